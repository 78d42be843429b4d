//! The target's variables: CPython's "localsplus" layout and the mapping of
//! a snippet's variables onto it (new plain locals are appended, which
//! shifts every cell and free index of the target by one).

use crate::model::{Code, Item};
use crate::opcodes::{self, ArgKind};
use crate::RewriteError;

/// The local variables of a code object, split the way CPython lays out
/// "localsplus": `co_varnames`, then cells that are not also in
/// `co_varnames`, then `co_freevars`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub varnames: Vec<String>,
    pub cellvars: Vec<String>,
    pub freevars: Vec<String>,
}

/// How a variable is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarKind {
    Fast,
    Cell,
    Free,
}

impl Scope {
    /// Localsplus names in index order.
    pub fn localsplus(&self) -> Vec<String> {
        self.localsplus_names().cloned().collect()
    }

    /// Localsplus names in index order, without copying them (looked up for
    /// every variable instruction of every snippet).
    fn localsplus_names(&self) -> impl Iterator<Item = &String> {
        self.varnames
            .iter()
            .chain(self.cellvars.iter().filter(|c| !self.varnames.contains(c)))
            .chain(self.freevars.iter())
    }

    /// The kind of `name` in this scope, if it is a local of any kind.
    pub fn kind(&self, name: &str) -> Option<VarKind> {
        if self.freevars.iter().any(|n| n == name) {
            Some(VarKind::Free)
        } else if self.cellvars.iter().any(|n| n == name) {
            Some(VarKind::Cell)
        } else if self.varnames.iter().any(|n| n == name) {
            Some(VarKind::Fast)
        } else {
            None
        }
    }

    /// The name at localsplus index `i`.
    pub fn name_at(&self, i: u32) -> Result<String, RewriteError> {
        self.localsplus_names()
            .nth(i as usize)
            .cloned()
            .ok_or_else(|| {
                RewriteError::Snippet(format!(
                    "the snippet uses local variable index {i}, which its template does not have"
                ))
            })
    }
}

/// The target's variables while probes are mapped onto them, with the plain
/// locals the snippets add.
pub struct TargetVars<'a> {
    pub scope: &'a mut Scope,
    pub code: &'a mut Code,
    /// Names appended to `co_varnames`, in order.
    pub added: &'a mut Vec<String>,
}

impl TargetVars<'_> {
    /// Index of variable `name` in the target's localsplus, appending a new
    /// plain local when a snippet introduces one. The kinds must agree: the
    /// template mirrors the target's scope, so a mismatch means it did not.
    pub fn index_of(&mut self, name: &str, want: VarKind) -> Result<u32, RewriteError> {
        match self.scope.kind(name) {
            Some(kind) if kind == want || (want != VarKind::Fast && kind != VarKind::Fast) => {}
            Some(kind) => {
                return Err(RewriteError::Snippet(format!(
                    "the snippet uses '{name}' as a {want:?} variable but it is a {kind:?} variable of the function"
                )))
            }
            None if want == VarKind::Fast => self.add_local(name)?,
            None => {
                return Err(RewriteError::Snippet(format!(
                    "the snippet needs '{name}' as a closure variable, which the function does not have"
                )))
            }
        }
        self.scope
            .localsplus_names()
            .position(|n| n == name)
            .map(|i| i as u32)
            .ok_or_else(|| RewriteError::Snippet(format!("variable '{name}' not found")))
    }

    /// Make sure `name` exists as a variable of the target, adding a plain
    /// local if it is new. Done for all of a snippet's locals before any
    /// index is mapped, because adding one shifts the cell and free indexes.
    pub fn ensure(&mut self, name: &str) -> Result<(), RewriteError> {
        if self.scope.kind(name).is_none() {
            self.add_local(name)?;
        }
        Ok(())
    }

    /// Append a new plain local. Appending to `co_varnames` shifts every cell
    /// and free index of the target by one.
    fn add_local(&mut self, name: &str) -> Result<(), RewriteError> {
        let old = self.scope.varnames.len() as u32;
        shift_cells(self.code, old)?;
        self.scope.varnames.push(name.to_string());
        self.code.counts.localsplus += 1;
        if let Some(l) = self.code.counts.locals.as_mut() {
            // a plain local, unbound until the snippet stores it (the
            // verifier's binding check must see it as one)
            l.varnames += 1;
        }
        self.added.push(name.to_string());
        Ok(())
    }
}

/// Add one to every localsplus index at or above `from` (cells and frees
/// after a new plain local is appended to `co_varnames`).
pub fn shift_cells(code: &mut Code, from: u32) -> Result<(), RewriteError> {
    let table = opcodes::table(code.version);
    for item in &mut code.items {
        if let Item::Instr(i) = item {
            match table.arg_kind(i.op) {
                Some(ArgKind::Local | ArgKind::Free) if i.arg >= from => i.arg += 1,
                Some(ArgKind::LocalPair) => {
                    let (a, b) = (i.arg >> 4, i.arg & 15);
                    let (a, b) = (a + u32::from(a >= from), b + u32::from(b >= from));
                    if a > 15 || b > 15 {
                        return Err(RewriteError::Uninstrumentable(
                            "a superinstruction's local index no longer fits in 4 bits".into(),
                        ));
                    }
                    i.arg = (a << 4) | b;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Index of `name` in a name table, appending it when absent.
pub fn intern(names: &mut Vec<String>, name: &str) -> u32 {
    if let Some(i) = names.iter().position(|n| n == name) {
        return i as u32;
    }
    names.push(name.to_string());
    (names.len() - 1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            varnames: vec!["a".into(), "b".into(), "c".into()],
            cellvars: vec!["c".into(), "d".into()],
            freevars: vec!["e".into()],
        }
    }

    #[test]
    fn localsplus_order_and_kinds() {
        let s = scope();
        assert_eq!(s.localsplus(), ["a", "b", "c", "d", "e"]);
        assert_eq!(s.kind("a"), Some(VarKind::Fast));
        assert_eq!(
            s.kind("c"),
            Some(VarKind::Cell),
            "an argument that is also a cell"
        );
        assert_eq!(s.kind("e"), Some(VarKind::Free));
        assert_eq!(s.kind("zz"), None);
        assert_eq!(s.name_at(3).unwrap(), "d");
        assert!(matches!(s.name_at(9), Err(RewriteError::Snippet(_))));
    }

    #[test]
    fn intern_appends_once() {
        let mut names = vec!["x".to_string()];
        assert_eq!(intern(&mut names, "x"), 0);
        assert_eq!(intern(&mut names, "y"), 1);
        assert_eq!(intern(&mut names, "y"), 1);
        assert_eq!(names.len(), 2);
    }
}
