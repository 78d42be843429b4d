//! Code generation for calls of hook objects held in `co_consts`, in each
//! version's calling convention: `NULL, callable, args` (3.11, 3.12; 3.11
//! also needs `PRECALL`) or `callable, NULL, args` (3.13+).

use crate::linetable::Location;
use crate::model::{Handler, Instr};
use crate::opcodes::Known;

/// An instruction without a jump target.
pub fn plain(op: u8, arg: u32, loc: Location, handler: Option<Handler>) -> Instr {
    Instr {
        op,
        arg,
        target: None,
        loc,
        handler,
    }
}

/// The call `hook(*top n stack values)` of constant `hook`, leaving the
/// result on the stack. The `n` arguments (0 or 1) must already be on the
/// stack; the callable and the NULL are slid under them with `SWAP`s.
pub fn call_const(
    k: &Known,
    hook: u32,
    n: u32,
    loc: Location,
    handler: Option<Handler>,
) -> Vec<Instr> {
    let i = |op: u8, arg: u32| plain(op, arg, loc, handler);
    let mut out = Vec::with_capacity(6);
    let (first, second) = if k.null_after_callable {
        (i(k.load_const, hook), i(k.push_null, 0))
    } else {
        (i(k.push_null, 0), i(k.load_const, hook))
    };
    // With one argument on the stack: [arg] -> [first, arg] -> [first,
    // second, arg], each pushed value swapped below the argument.
    out.push(first);
    if n > 0 {
        out.push(i(k.swap, 2));
    }
    out.push(second);
    if n > 0 {
        out.push(i(k.swap, 2));
    }
    if let Some(precall) = k.precall {
        out.push(i(precall, n));
    }
    out.push(i(k.call, n));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opcodes::table;
    use crate::PyVersion;

    fn names(v: PyVersion, n: u32) -> Vec<&'static str> {
        let t = table(v);
        call_const(&t.known, 7, n, Location::NONE, None)
            .iter()
            .map(|i| t.name(i.op).unwrap())
            .collect()
    }

    #[test]
    fn conventions_per_version() {
        assert_eq!(
            names(PyVersion::V311, 0),
            ["PUSH_NULL", "LOAD_CONST", "PRECALL", "CALL"]
        );
        assert_eq!(
            names(PyVersion::V312, 1),
            ["PUSH_NULL", "SWAP", "LOAD_CONST", "SWAP", "CALL"]
        );
        assert_eq!(
            names(PyVersion::V313, 0),
            ["LOAD_CONST", "PUSH_NULL", "CALL"]
        );
        assert_eq!(
            names(PyVersion::V313, 1),
            ["LOAD_CONST", "SWAP", "PUSH_NULL", "SWAP", "CALL"]
        );
    }
}
