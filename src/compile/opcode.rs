//! The instruction set. A register machine in Lua's style: each function frame
//! owns a window of registers `R[0..nregs]` on its fiber's value stack; locals
//! live in fixed registers, temporaries above them. Every instruction is 8 bytes.
//!
//! Notation: `R[x]` a register, `K[k]` the function's constant `k`, `N[n]` its
//! name table entry `n` (an interned symbol), `pc` the index of the next
//! instruction. Jump offsets are relative to `pc`.

/// A register index within the current frame.
pub type Reg = u16;

/// The test of a fused compare-and-jump. `NotLt` is not `Ge`: with NaN both
/// `a < b` and `a >= b` are false, so each polarity is its own test.
// Encode/Decode: functions travel between processes as their code (src/wire.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
#[repr(u8)]
pub enum Cmp {
    Lt,
    Le,
    NotLt,
    NotLe,
    Eq,
    Ne,
}

impl Cmp {
    /// The test that holds exactly when `self` does not.
    pub fn negate(self) -> Cmp {
        match self {
            Cmp::Lt => Cmp::NotLt,
            Cmp::Le => Cmp::NotLe,
            Cmp::NotLt => Cmp::Lt,
            Cmp::NotLe => Cmp::Le,
            Cmp::Eq => Cmp::Ne,
            Cmp::Ne => Cmp::Eq,
        }
    }
}

#[derive(Clone, Copy, Debug, bincode::Encode, bincode::Decode)]
pub enum Op {
    // ---- moves and constants ------------------------------------------------
    /// R[dst] = R[src]
    Move {
        dst: Reg,
        src: Reg,
    },
    /// R[dst] = K[k]
    LoadConst {
        dst: Reg,
        k: u16,
    },
    /// R[dst] = v
    LoadInt {
        dst: Reg,
        v: i32,
    },
    /// R[dst] = nil
    LoadNil {
        dst: Reg,
    },
    /// R[dst] = v
    LoadBool {
        dst: Reg,
        v: bool,
    },

    // ---- variables ----------------------------------------------------------
    /// R[dst] = globals[slot]; NameError if it was never set
    GetGlobal {
        dst: Reg,
        slot: u32,
    },
    /// globals[slot] = R[src]
    SetGlobal {
        src: Reg,
        slot: u32,
    },
    /// R[dst] = the value in captured cell `idx` of the running closure
    GetUpval {
        dst: Reg,
        idx: u16,
    },
    /// captured cell `idx` = R[src]
    SetUpval {
        src: Reg,
        idx: u16,
    },
    /// R[reg] = a new cell holding R[reg] (a captured local starts its life)
    NewCell {
        reg: Reg,
    },
    /// R[dst] = the value in the cell R[cell]
    GetCell {
        dst: Reg,
        cell: Reg,
    },
    /// the cell R[cell] = R[src]
    SetCell {
        cell: Reg,
        src: Reg,
    },

    // ---- arithmetic and logic: R[dst] = R[a] op R[b] ----------------------------
    Add {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Sub {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Mul {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Div {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    FloorDiv {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Mod {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Pow {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    BitAnd {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    BitOr {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    BitXor {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Shl {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Shr {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// R[dst] = R[a] + v (also subtraction of a small constant)
    AddInt {
        dst: Reg,
        a: Reg,
        v: i16,
    },
    /// R[dst] = -R[src]
    Neg {
        dst: Reg,
        src: Reg,
    },
    /// R[dst] = ~R[src]
    BitNot {
        dst: Reg,
        src: Reg,
    },
    /// R[dst] = not R[src]
    Not {
        dst: Reg,
        src: Reg,
    },

    // ---- comparisons: R[dst] = R[a] op R[b] (a bool) ---------------------------
    Eq {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Ne {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Lt {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Le {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// R[dst] = R[a] in R[b]
    In {
        dst: Reg,
        a: Reg,
        b: Reg,
    },

    // ---- jumps ----------------------------------------------------------------
    /// pc += off
    Jump {
        off: i32,
    },
    /// if not R[cond]: pc += off
    JumpIfFalse {
        cond: Reg,
        off: i32,
    },
    /// if R[cond]: pc += off
    JumpIfTrue {
        cond: Reg,
        off: i32,
    },
    /// if R[a] cmp R[b]: pc += off
    CmpJump {
        cmp: Cmp,
        a: Reg,
        b: Reg,
        off: i16,
    },
    /// if R[a] cmp v: pc += off
    CmpIntJump {
        cmp: Cmp,
        a: Reg,
        v: i16,
        off: i16,
    },
    /// if R[reg] is not the "missing argument" marker: pc += off (default parameters)
    JumpIfGiven {
        reg: Reg,
        off: i32,
    },

    // ---- calls ----------------------------------------------------------------
    /// R[func] = R[func](R[func+1], ..., R[func+nargs])
    Call {
        func: Reg,
        nargs: u8,
    },
    /// R[func] = globals[slot](R[func+1], ..., R[func+nargs]): a call of a global
    /// function without copying it into a register first
    CallGlobal {
        func: Reg,
        nargs: u8,
        slot: u32,
    },
    /// as Call, but the last len(K[names]) arguments are named by the list K[names]
    CallKw {
        func: Reg,
        nargs: u8,
        names: u16,
    },
    /// R[base] = R[base].N[name](R[base+1], ..., R[base+nargs])
    CallMethod {
        base: Reg,
        name: u16,
        nargs: u8,
    },
    /// as CallMethod with named arguments (see CallKw)
    CallMethodKw {
        base: Reg,
        name: u16,
        nargs: u8,
        names: u16,
    },
    /// return R[src] to the caller
    Return {
        src: Reg,
    },
    /// return nil
    ReturnNil,

    // ---- containers and members ---------------------------------------------------
    /// R[dst] = [R[start], ..., R[start+count-1]]
    NewList {
        dst: Reg,
        start: Reg,
        count: u16,
    },
    /// R[dst] = {R[start]: R[start+1], ...} (count pairs)
    NewMap {
        dst: Reg,
        start: Reg,
        count: u16,
    },
    /// R[list].append(R[src]) (comprehensions)
    ListAppend {
        list: Reg,
        src: Reg,
    },
    /// R[map][R[key]] = R[src] (comprehensions)
    MapInsert {
        map: Reg,
        key: Reg,
        src: Reg,
    },
    /// R[dst] = R[obj][R[index]]
    GetIndex {
        dst: Reg,
        obj: Reg,
        index: Reg,
    },
    /// R[obj][R[index]] = R[src]
    SetIndex {
        obj: Reg,
        index: Reg,
        src: Reg,
    },
    /// R[dst] = R[base][R[base+1] : R[base+2] : R[base+3]] (nil for an omitted part)
    Slice {
        dst: Reg,
        base: Reg,
    },
    /// R[dst] = R[obj].N[name]
    GetAttr {
        dst: Reg,
        obj: Reg,
        name: u16,
    },
    /// R[obj].N[name] = R[src]
    SetAttr {
        obj: Reg,
        name: u16,
        src: Reg,
    },
    /// R[dst] = super.N[name], bound to self (R[0])
    GetSuper {
        dst: Reg,
        name: u16,
    },
    /// R[dst..dst+count] = the elements of list R[src]; ValueError unless it has exactly count
    Unpack {
        dst: Reg,
        src: Reg,
        count: u16,
    },

    // ---- iteration ----------------------------------------------------------------
    /// R[dst] = an iterator over R[src]
    IterPrep {
        dst: Reg,
        src: Reg,
    },
    /// R[iter+1] = the next item of iterator R[iter]; when exhausted: pc += off
    ForIter {
        iter: Reg,
        off: i32,
    },

    // ---- functions and classes --------------------------------------------------------
    /// R[dst] = a closure of nested prototype `proto`, capturing as its `captures` say
    Closure {
        dst: Reg,
        proto: u16,
    },
    /// R[dst] = class named R[start] (a str), parent R[start+1] (nil for none),
    /// methods R[start+2 ..= start+1+count] (closures)
    MakeClass {
        dst: Reg,
        start: Reg,
        count: u16,
    },

    // ---- errors -------------------------------------------------------------------------
    /// raise R[src] (an error value, or a string for kind Error)
    Throw {
        src: Reg,
    },
    /// until the matching PopHandler: an error jumps to pc+off with the error in R[reg].
    /// A `finally` handler also stops errors that `catch` cannot see.
    PushHandler {
        reg: Reg,
        finally: bool,
        off: i32,
    },
    /// drop the innermost handler of this frame
    PopHandler,

    // ---- generators -------------------------------------------------------------------
    /// suspend, producing R[src]; when resumed, R[dst] = the value sent in
    Yield {
        dst: Reg,
        src: Reg,
    },
    /// delegate to the iterable R[src] until it ends; R[dst] = its return value
    YieldFrom {
        dst: Reg,
        src: Reg,
    },

    // ---- strings and modules ----------------------------------------------------------
    /// R[dst] = R[src] formatted by the spec K[spec] (u16::MAX: none), as repr if `repr`
    Format {
        dst: Reg,
        src: Reg,
        spec: u16,
        repr: bool,
    },
    /// R[dst] = R[start] + ... + R[start+count-1] (all strings)
    Concat {
        dst: Reg,
        start: Reg,
        count: u16,
    },
    /// R[dst] = the module of the file K[path] (run on first import)
    Import {
        dst: Reg,
        path: u16,
    },
}

impl Op {
    /// Sets the jump offset of a jump instruction (used when patching forward jumps).
    /// Returns false when the offset does not fit the instruction's field.
    pub fn set_offset(&mut self, new: i32) -> bool {
        match self {
            Op::Jump { off }
            | Op::JumpIfFalse { off, .. }
            | Op::JumpIfTrue { off, .. }
            | Op::JumpIfGiven { off, .. } => *off = new,
            Op::ForIter { off, .. } | Op::PushHandler { off, .. } => *off = new,
            Op::CmpJump { off, .. } | Op::CmpIntJump { off, .. } => match i16::try_from(new) {
                Ok(v) => *off = v,
                Err(_) => return false,
            },
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn instructions_are_eight_bytes() {
        assert_eq!(std::mem::size_of::<super::Op>(), 8);
    }
}
