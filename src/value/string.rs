//! Immutable Unicode strings. `len` and indexing count code points (section 3), so
//! each string records its length in characters; ASCII strings index in O(1).

pub struct Str {
    s: Box<str>,
    chars: usize,
}

impl Str {
    pub fn new(s: &str) -> Str {
        Str {
            chars: s.chars().count(),
            s: s.into(),
        }
    }
    pub fn from_string(s: String) -> Str {
        Str {
            chars: s.chars().count(),
            s: s.into_boxed_str(),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.s
    }
    /// Length in code points.
    pub fn char_len(&self) -> usize {
        self.chars
    }
    pub fn is_ascii(&self) -> bool {
        self.chars == self.s.len()
    }
    /// Byte offset of the code point at `index` (`index == char_len()` gives the end).
    pub fn byte_offset(&self, index: usize) -> usize {
        if self.is_ascii() || index == 0 {
            return index.min(self.s.len());
        }
        self.s
            .char_indices()
            .nth(index)
            .map_or(self.s.len(), |(b, _)| b)
    }
    /// The code point at `index`, if in range.
    pub fn char_at(&self, index: usize) -> Option<char> {
        if self.is_ascii() {
            return self.s.as_bytes().get(index).map(|b| *b as char);
        }
        self.s.chars().nth(index)
    }
    /// The substring of code points `[from, to)`; both must be within bounds.
    pub fn substr(&self, from: usize, to: usize) -> &str {
        if from >= to {
            return "";
        }
        let a = self.byte_offset(from);
        let b = self.byte_offset(to);
        &self.s[a..b]
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", &*self.s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_point_indexing() {
        let s = Str::new("héllo😀");
        assert_eq!(s.char_len(), 6);
        assert!(!s.is_ascii());
        assert_eq!(s.char_at(1), Some('é'));
        assert_eq!(s.char_at(5), Some('😀'));
        assert_eq!(s.substr(1, 3), "él");
        let a = Str::new("abc");
        assert!(a.is_ascii());
        assert_eq!(a.char_at(2), Some('c'));
        assert_eq!(a.char_at(3), None);
    }
}
