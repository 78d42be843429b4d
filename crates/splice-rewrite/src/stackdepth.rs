//! Stack depth over every path, including exception handlers: the depth
//! before each instruction, and the maximum (`co_stacksize`). Computed the
//! way CPython's own `stackdepth()` does, so re-assembling unmodified code
//! gives back the original `co_stacksize`.
//!
//! Any inconsistency is an error: a point reached with two different depths,
//! a depth below zero, a handler that unwinds to a depth the stack does not
//! have, or control falling off the end of the code. CPython would not catch
//! any of these; it would crash.

use std::collections::HashMap;

use crate::model::{Instr, Label};
use crate::opcodes::{self, ArgKind};
use crate::{PyVersion, RewriteError};

/// Depth before each instruction (`None`: unreachable) and the maximum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackDepths {
    pub before: Vec<Option<u32>>,
    pub max: u32,
}

fn describe(version: PyVersion, instrs: &[&Instr], i: usize) -> String {
    let name = opcodes::table(version)
        .info(instrs[i].op)
        .map(|o| o.name)
        .unwrap_or("?");
    match instrs[i].loc.line {
        Some(line) => format!("instruction {i} ({name}, line {line})"),
        None => format!("instruction {i} ({name})"),
    }
}

fn label_index(labels: &HashMap<Label, usize>, l: Label) -> Result<usize, RewriteError> {
    labels
        .get(&l)
        .copied()
        .ok_or(RewriteError::UnplacedLabel(l.0))
}

/// Compute stack depths. `labels` maps each label to the index of the
/// instruction it precedes (see [`crate::model::Code::flatten`]).
pub fn compute(
    version: PyVersion,
    instrs: &[&Instr],
    labels: &HashMap<Label, usize>,
) -> Result<StackDepths, RewriteError> {
    let table = opcodes::table(version);
    let n = instrs.len();
    let mut before: Vec<Option<u32>> = vec![None; n];
    let mut max: i64 = 0;
    let mut work: Vec<usize> = Vec::new();
    let err = |msg: String| RewriteError::Verify(msg);

    // Record that `idx` is reached with `depth`; queue it if new.
    let reach = |before: &mut Vec<Option<u32>>,
                 work: &mut Vec<usize>,
                 idx: usize,
                 depth: i64,
                 from: usize|
     -> Result<bool, RewriteError> {
        if idx >= n {
            return Err(err(format!(
                "control falls off the end of the code after {}",
                describe(version, instrs, from)
            )));
        }
        if depth < 0 {
            return Err(err(format!(
                "stack underflow: {} leaves depth {depth}",
                describe(version, instrs, from)
            )));
        }
        let depth = depth as u32;
        match before[idx] {
            None => {
                before[idx] = Some(depth);
                work.push(idx);
                Ok(true)
            }
            Some(d) if d == depth => Ok(false),
            Some(d) => Err(err(format!(
                "inconsistent stack depth: {} is reached with depth {d} and with depth {depth} (from {})",
                describe(version, instrs, idx),
                describe(version, instrs, from)
            ))),
        }
    };

    if n == 0 {
        return Err(err("the code has no instructions".into()));
    }
    reach(&mut before, &mut work, 0, 0, 0)?;
    while let Some(start) = work.pop() {
        let mut i = start;
        loop {
            let ins = instrs[i];
            let depth = i64::from(before[i].unwrap_or(0));
            let info = table.info(ins.op).ok_or(RewriteError::UnknownOpcode {
                op: ins.op,
                offset: i,
            })?;
            if let Some(h) = &ins.handler {
                if i64::from(h.depth) > depth {
                    return Err(err(format!(
                        "the handler of {} unwinds to depth {} but the stack only has {depth}",
                        describe(version, instrs, i),
                        h.depth
                    )));
                }
                let t = label_index(labels, h.target)?;
                let entry = i64::from(h.entry_depth());
                max = max.max(entry);
                reach(&mut before, &mut work, t, entry, i)?;
            }
            let effect = |jump: bool| {
                if info.name == "RETURN_GENERATOR" {
                    // The generator's frame resumes after RETURN_GENERATOR
                    // with the sent value pushed (the POP_TOP that follows
                    // drops it). 3.11 and 3.12 report 0 here because their
                    // compilers add this prefix after computing the depth.
                    return Ok(1);
                }
                table.stack_effect(ins.op, ins.arg, Some(jump)).ok_or(
                    RewriteError::UnknownStackEffect {
                        name: info.name,
                        arg: ins.arg,
                    },
                )
            };
            let fall = depth + i64::from(effect(false)?);
            if let Some(t) = ins.target {
                if !matches!(info.arg, ArgKind::JumpForward | ArgKind::JumpBackward) {
                    return Err(err(format!(
                        "{} has a jump target but is not a jump",
                        describe(version, instrs, i)
                    )));
                }
                let jd = depth + i64::from(effect(true)?);
                max = max.max(jd);
                reach(&mut before, &mut work, label_index(labels, t)?, jd, i)?;
            } else if matches!(info.arg, ArgKind::JumpForward | ArgKind::JumpBackward) {
                return Err(err(format!(
                    "{} is a jump without a target",
                    describe(version, instrs, i)
                )));
            }
            if table.is_terminal(ins.op) {
                break;
            }
            max = max.max(fall);
            if !reach(&mut before, &mut work, i + 1, fall, i)? {
                break;
            }
            // `reach` queued i + 1; walk it now instead.
            work.pop();
            i += 1;
        }
    }
    Ok(StackDepths {
        before,
        max: max as u32,
    })
}
