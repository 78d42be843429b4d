//! Code generation for calls of hook objects held in `co_consts`, in each
//! version's calling convention: `NULL, callable, args` (3.11, 3.12; 3.11
//! also needs `PRECALL`) or `callable, NULL, args` (3.13+). The arguments
//! are pushed after the callable and the NULL, so a value already on the
//! stack is passed with a `COPY` (no `SWAP`s).

use crate::linetable::Location;
use crate::model::{Handler, Instr};
use crate::opcodes::Known;

/// An instruction without a jump target.
pub fn plain(op: u8, arg: u32, loc: Location, handler: Option<Handler>) -> Instr {
    Instr {
        spliced: None,
        op,
        arg,
        target: None,
        loc,
        handler,
    }
}

/// The call `hook(*args)` of constant `hook`, where `args` are instructions
/// that push the arguments, one value each, onto the stack above the
/// callable and the NULL (so they can `COPY` what is below). Leaves the
/// result on the stack.
pub fn call_const(
    k: &Known,
    hook: u32,
    args: &[Instr],
    loc: Location,
    handler: Option<Handler>,
) -> Vec<Instr> {
    let i = |op: u8, arg: u32| plain(op, arg, loc, handler);
    let mut out = Vec::with_capacity(args.len() + 4);
    if k.null_after_callable {
        out.extend([i(k.load_const, hook), i(k.push_null, 0)]);
    } else {
        out.extend([i(k.push_null, 0), i(k.load_const, hook)]);
    }
    out.extend_from_slice(args);
    let n = args.len() as u32;
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

    #[test]
    fn conventions_per_version() {
        for (v, want) in [
            (
                PyVersion::V311,
                [
                    "PUSH_NULL",
                    "LOAD_CONST",
                    "COPY",
                    "LOAD_FAST",
                    "PRECALL",
                    "CALL",
                ]
                .as_slice(),
            ),
            (
                PyVersion::V312,
                ["PUSH_NULL", "LOAD_CONST", "COPY", "LOAD_FAST", "CALL"].as_slice(),
            ),
            (
                PyVersion::V314,
                ["LOAD_CONST", "PUSH_NULL", "COPY", "LOAD_FAST", "CALL"].as_slice(),
            ),
        ] {
            let t = table(v);
            let k = &t.known;
            let args = [
                plain(k.copy, 3, Location::NONE, None),
                plain(k.load_fast, 0, Location::NONE, None),
            ];
            let got: Vec<_> = call_const(k, 7, &args, Location::NONE, None)
                .iter()
                .map(|i| (t.name(i.op).unwrap(), i.arg))
                .collect();
            let names: Vec<_> = got.iter().map(|g| g.0).collect();
            assert_eq!(names, want, "{v:?}");
            assert_eq!(got.last().unwrap().1, 2, "{v:?}: CALL 2");
        }
    }
}
