//! The abstract syntax tree. Every node carries the byte span of its source text so
//! that the compiler can attach a location to each instruction it emits.

use std::rc::Rc;

/// A byte range in the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
}

/// A name as written in the source, with where it was written.
#[derive(Clone, Debug)]
pub struct Ident {
    pub name: Rc<str>,
    pub span: Span,
}

pub type Block = Vec<Stmt>;

#[derive(Debug)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug)]
pub enum StmtKind {
    Let {
        target: Pattern,
        value: Expr,
    },
    /// `target = value` or, with `op`, `target op= value`.
    Assign {
        target: Target,
        op: Option<BinOp>,
        value: Expr,
    },
    Expr(Expr),
    If {
        branches: Vec<(Expr, Block)>,
        otherwise: Option<Block>,
    },
    While {
        cond: Expr,
        body: Block,
    },
    For {
        target: Pattern,
        iter: Expr,
        body: Block,
    },
    Break,
    Continue,
    Return(Option<Expr>),
    Fn(Rc<FnDef>),
    Class(Rc<ClassDef>),
    Try {
        body: Block,
        catch: Option<(Option<Ident>, Block)>,
        finally: Option<Block>,
    },
    Throw(Expr),
    With {
        subject: Expr,
        name: Option<Ident>,
        body: Block,
    },
    Import {
        path: String,
        alias: Ident,
    },
}

/// Left-hand side of `let` and `for`: a name or a (nested) list of names.
#[derive(Debug)]
pub enum Pattern {
    Name(Ident),
    List(Vec<Pattern>, Span),
}

/// Left-hand side of an assignment.
#[derive(Debug)]
pub enum Target {
    Name(Ident),
    Index { obj: Expr, index: Expr },
    Attr { obj: Expr, name: Ident },
    List(Vec<Target>, Span),
}

#[derive(Debug)]
pub struct FnDef {
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Block,
    /// True when the body contains `yield` (not counting nested functions).
    pub is_generator: bool,
    pub span: Span,
}

#[derive(Debug)]
pub struct Param {
    pub name: Ident,
    pub default: Option<Expr>,
}

#[derive(Debug)]
pub struct ClassDef {
    pub name: Ident,
    pub parent: Option<Expr>,
    pub methods: Vec<Rc<FnDef>>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

impl Expr {
    /// Takes the node's kind (an `Expr` cannot be destructured: it has a Drop).
    pub fn into_kind(mut self) -> ExprKind {
        std::mem::replace(&mut self.kind, ExprKind::Nil)
    }
}

/// Dropping a tree nested a million levels deep (`1 + 1 + ...`) recurses once
/// per level: each level runs where the stack has room.
impl Drop for Expr {
    fn drop(&mut self) {
        if matches!(
            self.kind,
            ExprKind::Nil | ExprKind::Bool(_) | ExprKind::Int(_) | ExprKind::Float(_)
        ) {
            return;
        }
        let kind = std::mem::replace(&mut self.kind, ExprKind::Nil);
        stacker::maybe_grow(64 * 1024, 4 * 1024 * 1024, move || drop(kind));
    }
}

#[derive(Debug)]
pub enum ExprKind {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    FString(Vec<FPart>),
    Name(Ident),
    SelfRef,
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    ListComp {
        elem: Box<Expr>,
        clauses: Vec<CompFor>,
    },
    MapComp {
        key: Box<Expr>,
        value: Box<Expr>,
        clauses: Vec<CompFor>,
    },
    Unary {
        op: UnOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        left: Box<Expr>,
        right: Box<Expr>,
        op_span: Span,
    },
    /// `a < b <= c`: operands and the operators between them (Python chaining).
    Compare {
        first: Box<Expr>,
        rest: Vec<(CmpOp, Expr, Span)>,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    Call {
        callee: Box<Expr>,
        args: Vec<Expr>,
        named: Vec<(Ident, Expr)>,
    },
    Index {
        obj: Box<Expr>,
        index: Box<Expr>,
    },
    Slice {
        obj: Box<Expr>,
        lo: Option<Box<Expr>>,
        hi: Option<Box<Expr>>,
        step: Option<Box<Expr>>,
    },
    Attr {
        obj: Box<Expr>,
        name: Ident,
    },
    SuperAttr(Ident),
    Lambda(Rc<FnDef>),
    Spawn(Box<Expr>),
    Go(Box<Expr>),
    Yield(Option<Box<Expr>>),
    YieldFrom(Box<Expr>),
}

#[derive(Debug)]
pub enum FPart {
    Lit(String),
    Hole {
        expr: Expr,
        repr: bool,
        spec: Option<String>,
    },
}

#[derive(Debug)]
pub struct CompFor {
    pub target: Pattern,
    pub iter: Expr,
    pub conds: Vec<Expr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    BitNot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
}
