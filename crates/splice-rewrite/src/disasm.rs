//! A disassembler with stable output for snapshots and `python -m splice
//! show`: labels instead of offsets, operand values resolved, the stack depth
//! before each instruction, the exception handler of each instruction, and
//! the source line whenever it changes.

use std::fmt::Write;

use crate::cfg::Cfg;
use crate::model::{Code, Instr, Item};
use crate::opcodes::{self, ArgKind};
use crate::stackdepth;
use crate::RewriteError;

/// Human-readable values of the operand tables (consts as `repr`).
#[derive(Clone, Debug, Default)]
pub struct Operands {
    pub consts: Vec<String>,
    pub names: Vec<String>,
    pub localsplus: Vec<String>,
}

const CMP_OPS: [&str; 6] = ["<", "<=", "==", "!=", ">", ">="];

fn lookup(table: &[String], i: usize) -> String {
    table
        .get(i)
        .cloned()
        .unwrap_or_else(|| format!("<bad index {i}>"))
}

/// The operand of `ins` as text: resolved names and values, labels for
/// jumps.
fn operand_text(code: &Code, ops: &Operands, ins: &Instr) -> String {
    let table = opcodes::table(code.version);
    let kind = table.arg_kind(ins.op).unwrap_or(ArgKind::Plain);
    let a = ins.arg as usize;
    match kind {
        ArgKind::None => String::new(),
        ArgKind::Plain if Some(ins.op) == table.known.load_common_constant => {
            match table.common_constants().get(a) {
                Some(c) => format!("{a} ({c})"),
                None => format!("{a}"),
            }
        }
        ArgKind::Plain => format!("{a}"),
        ArgKind::Const => format!("{a} ({})", lookup(&ops.consts, a)),
        ArgKind::Name { shift } => {
            let flags = a & ((1 << shift) - 1);
            let n = lookup(&ops.names, a >> shift);
            if flags != 0 {
                format!("{a} ({n}, flags {flags})")
            } else {
                format!("{a} ({n})")
            }
        }
        ArgKind::Local | ArgKind::Free => format!("{a} ({})", lookup(&ops.localsplus, a)),
        ArgKind::LocalPair => format!(
            "{a} ({}, {})",
            lookup(&ops.localsplus, a >> 4),
            lookup(&ops.localsplus, a & 15)
        ),
        // An anchored operand names an instruction it never jumps to
        // (3.14+ END_ASYNC_FOR and its SEND): shown as `dis` does.
        ArgKind::JumpBackward if table.offset_anchor(ins.op).is_some() => match ins.target {
            Some(t) => format!("from L{}", t.0),
            None => "from ?".into(),
        },
        ArgKind::JumpForward | ArgKind::JumpBackward => match ins.target {
            Some(t) => format!("-> L{}", t.0),
            None => "-> ?".into(),
        },
        ArgKind::Compare => {
            let shift = match code.version {
                crate::PyVersion::V311 => 0,
                crate::PyVersion::V312 => 4,
                _ => 5,
            };
            let op = CMP_OPS.get(a >> shift).copied().unwrap_or("?");
            format!("{a} ({op})")
        }
    }
}

/// Disassemble `code`. `marked[i]`, when given, flags instruction `i` (in
/// instruction order) with a `+` in the margin, e.g. injected code.
pub fn disassemble(
    code: &Code,
    ops: &Operands,
    marked: Option<&[bool]>,
) -> Result<String, RewriteError> {
    let table = opcodes::table(code.version);
    code.flatten()?;
    let depths = Cfg::new(code)
        .and_then(|cfg| stackdepth::compute(&cfg))
        .ok();
    let mut out = String::new();
    let mut last_line: Option<Option<i32>> = None;
    let mut idx = 0usize;
    for item in &code.items {
        let ins = match item {
            Item::Label(l) => {
                let _ = writeln!(out, "L{}:", l.0);
                continue;
            }
            Item::Instr(i) => i,
        };
        let name = table.name(ins.op).unwrap_or("<unknown>");
        let arg = operand_text(code, ops, ins);
        let line = if last_line != Some(ins.loc.line) {
            last_line = Some(ins.loc.line);
            match ins.loc.line {
                Some(l) => format!("{l}"),
                None => "-".into(),
            }
        } else {
            String::new()
        };
        let depth = match depths.as_ref().and_then(|d| d.before[idx]) {
            Some(d) => format!("{d}"),
            None => "?".into(),
        };
        let mark = match marked.and_then(|m| m.get(idx)) {
            Some(true) => "+",
            _ => " ",
        };
        let mut text = format!("{mark}{line:>5} {depth:>3}  {name:<28} {arg}");
        if let Some(h) = &ins.handler {
            let _ = write!(
                text,
                "{}[exc -> L{} depth {}{}]",
                if arg.is_empty() { "" } else { "  " },
                h.target.0,
                h.depth,
                if h.lasti { " lasti" } else { "" }
            );
        }
        let _ = writeln!(out, "{}", text.trim_end());
        idx += 1;
    }
    Ok(out)
}
