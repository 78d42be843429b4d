//! A snippet's instructions, relocated into the target: the body of the
//! template function CPython compiled (see `python/splice/template.py`)
//! with every operand re-targeted (constants through the bindings' map,
//! names by text, variables by name, hook globals turned into constant
//! loads), the implicit `return None` turned into a jump to the end, and
//! the body split into the *hot* part normal control flow reaches and the
//! *cold* part only exception edges reach (the exception-note handler that
//! `breakpoint.py` wraps around every action list), which goes after the
//! function's last instruction as CPython places its own cold blocks.

use std::collections::HashMap;

use crate::cfg::Cfg;
use crate::linetable::Location;
use crate::model::{Code, Handler, Instr, Item, Label, Spliced};
use crate::opcodes::{ArgKind, Known, OpcodeTable};
use crate::{PyVersion, RewriteError};

use super::callgen::plain;
use super::scope::{intern, Scope, TargetVars, VarKind};

/// A compiled template function whose body is a line probe.
#[derive(Clone, Debug)]
pub struct Snippet {
    pub code: Code,
    pub scope: Scope,
    pub names: Vec<String>,
    /// For each constant of the template, its index in the target's consts.
    pub const_map: Vec<u32>,
    /// Global names whose loads become `LOAD_CONST` of the given target
    /// const index (hooks, `variables=`, instance filters).
    pub hooks: HashMap<String, u32>,
    /// Indexes of the template's consts that are `None`, to recognise the
    /// implicit `return None` that ends the template body.
    pub none_consts: Vec<u32>,
}

/// The label that stands for "after the snippet" until a copy is made.
const END: Label = Label(u32::MAX);

/// A snippet relocated into one target, ready to be copied to each site.
pub struct Relocated {
    /// The whole body, in the template's order.
    body: Vec<Item>,
    /// The same, split into hot and cold parts, or `None` when the cold
    /// part cannot move (it falls through into or jumps to hot code).
    split: Option<(Vec<Item>, Vec<Item>)>,
    /// Plain locals the snippet stores to or deletes (by target index).
    pub stored_locals: Vec<u32>,
    /// Plain locals the snippet may leave unbound (`DELETE_FAST`, and
    /// `LOAD_FAST_AND_CLEAR` of its inlined comprehensions), by target
    /// index: the target's loads of them must check ([`super::unbound`]).
    pub deleted_locals: Vec<u32>,
}

/// What relocating one template instruction produced.
enum Step {
    /// Emit these instructions and consume `n` template instructions.
    Emit(Vec<Instr>, usize),
    /// Drop the instruction (a line-marking NOP).
    Skip,
}

/// The relocation context: the tables being mapped between.
struct Mapper<'s, 't> {
    table: &'static OpcodeTable,
    snippet: &'s Snippet,
    vars: TargetVars<'t>,
    names: &'t mut Vec<String>,
}

impl Mapper<'_, '_> {
    fn k(&self) -> &'static Known {
        &self.table.known
    }

    fn is_none_const(&self, arg: u32) -> bool {
        self.snippet.none_consts.contains(&arg)
    }

    fn jump_to_end(&self, ins: &Instr) -> Instr {
        Instr {
            spliced: None,
            op: self.k().jump_forward,
            arg: 0,
            target: Some(END),
            loc: ins.loc,
            handler: ins.handler,
        }
    }

    /// Returns, yields and awaits cannot run inside the target's frame as
    /// a probe; the implicit `return None` ends the snippet instead.
    fn control(&self, ins: &Instr, next: Option<&Instr>) -> Result<Option<Step>, RewriteError> {
        let k = self.k();
        if ins.op == k.nop {
            // The template's NOPs only carry line numbers (a `try:` line, a
            // `pass`); every copied instruction gets the site's location, so
            // they would cost a dispatch for nothing.
            return Ok(Some(Step::Skip));
        }
        let loads_none = (ins.op == k.load_const && self.is_none_const(ins.arg))
            || (Some(ins.op) == k.load_common_constant && Some(ins.arg) == k.common_constant_none);
        if loads_none && next.is_some_and(|n| n.op == k.return_value) {
            return Ok(Some(Step::Emit(vec![self.jump_to_end(ins)], 2)));
        }
        if Some(ins.op) == k.return_const && self.is_none_const(ins.arg) {
            return Ok(Some(Step::Emit(vec![self.jump_to_end(ins)], 1)));
        }
        if k.is_return(ins.op) {
            return Err(RewriteError::Snippet(
                "the snippet returns a value; probes cannot return from the function".into(),
            ));
        }
        if [k.yield_value, k.return_generator, k.send, k.get_awaitable].contains(&ins.op) {
            return Err(RewriteError::Snippet(format!(
                "the snippet uses {}; probes cannot yield or await",
                self.table.name(ins.op).unwrap_or("?")
            )));
        }
        Ok(None)
    }

    /// A name operand: hook globals become constant loads of the hook
    /// object; other names are interned in the target's `co_names`.
    fn name(&mut self, ins: &Instr, shift: u8) -> Result<Vec<Instr>, RewriteError> {
        let k = self.k();
        let idx = (ins.arg >> shift) as usize;
        let flags = ins.arg & ((1 << shift) - 1);
        let gname = self.snippet.names.get(idx).ok_or_else(|| {
            RewriteError::Snippet(format!("snippet name index {idx} out of range"))
        })?;
        let mut out = ins.clone();
        let Some(&hook) = self.snippet.hooks.get(gname) else {
            out.arg = (intern(self.names, gname) << shift) | flags;
            return Ok(vec![out]);
        };
        if ins.op == k.load_global || ins.op == k.load_name {
            out.op = k.load_const;
            out.arg = hook;
            if ins.op == k.load_global && flags & 1 == 1 {
                // `hook(...)`: the call's NULL, where this version wants it.
                let null = plain(k.push_null, 0, ins.loc, ins.handler);
                return Ok(if k.null_after_callable {
                    vec![out, null]
                } else {
                    vec![null, out]
                });
            }
            return Ok(vec![out]);
        }
        let assigns = [k.store_global, k.delete_global, k.store_name, k.delete_name];
        if assigns.contains(&ins.op) {
            return Err(RewriteError::Snippet(format!(
                "the snippet assigns or deletes '{gname}', a name splice provides; choose another name"
            )));
        }
        // An attribute or import name that happens to equal a hook's name.
        out.arg = (intern(self.names, gname) << shift) | flags;
        Ok(vec![out])
    }

    /// A plain-local operand. Loads become checked loads on 3.12+: the
    /// template's locals are parameters (CPython proved them bound) and on
    /// 3.14+ may be borrowed loads; the target's may be unbound at the site,
    /// and a borrowed reference would not survive a snippet that rebinds it.
    ///
    /// On 3.13+ a closure is built from its cells with plain `LOAD_FAST`s of
    /// cell and free slots (3.12's `LOAD_CLOSURE`): such a load keeps its
    /// kind and is not checked (a cell object is never unbound).
    fn local(&mut self, ins: &Instr) -> Result<Instr, RewriteError> {
        let k = self.k();
        let v = self.snippet.scope.name_at(ins.arg)?;
        let want = self.template_kind(&v);
        let mut out = ins.clone();
        out.arg = self.vars.index_of(&v, want)?;
        if want != VarKind::Fast {
            out.spliced = Some(cell_mark());
        }
        if want == VarKind::Fast && k.is_single_local_load(ins.op) {
            if let Some(check) = k.load_fast_check {
                out.op = check;
            }
        }
        Ok(out)
    }

    /// How the template stores the variable an instruction with a local
    /// operand names: a cell or free variable (loaded as a closure's cell,
    /// 3.13+), or a plain local (also when the template has no such name).
    fn template_kind(&self, name: &str) -> VarKind {
        match self.snippet.scope.kind(name) {
            Some(kind @ (VarKind::Cell | VarKind::Free)) => kind,
            _ => VarKind::Fast,
        }
    }

    /// A superinstruction with two 4-bit local indexes: split into two
    /// instructions, since the target's indexes may not fit in 4 bits and
    /// the loads must become checked loads.
    fn local_pair(&mut self, ins: &Instr) -> Result<Vec<Instr>, RewriteError> {
        let k = self.k();
        let a = self.snippet.scope.name_at(ins.arg >> 4)?;
        let b = self.snippet.scope.name_at(ins.arg & 15)?;
        let (wa, wb) = (self.template_kind(&a), self.template_kind(&b));
        let ia = self.vars.index_of(&a, wa)?;
        let ib = self.vars.index_of(&b, wb)?;
        // a plain local's load is checked; a cell's (a closure's) is not
        let load = |w: VarKind| {
            if w == VarKind::Fast {
                k.load_fast_check.unwrap_or(k.load_fast)
            } else {
                k.load_fast
            }
        };
        let (first, second) = if Some(ins.op) == k.store_fast_store_fast {
            (k.store_fast, k.store_fast)
        } else if Some(ins.op) == k.store_fast_load_fast {
            (k.store_fast, load(wb))
        } else if Some(ins.op) == k.load_fast_load_fast
            || Some(ins.op) == k.load_fast_borrow_load_fast_borrow
        {
            (load(wa), load(wb))
        } else {
            return Err(RewriteError::Snippet(format!(
                "unknown superinstruction {}",
                self.table.name(ins.op).unwrap_or("?")
            )));
        };
        let mut pair = [
            plain(first, ia, ins.loc, ins.handler),
            plain(second, ib, ins.loc, ins.handler),
        ];
        for (i, w) in pair.iter_mut().zip([wa, wb]) {
            if w != VarKind::Fast {
                i.spliced = Some(cell_mark());
            }
        }
        Ok(pair.into())
    }

    /// Relocate one template instruction (`next` is the one after it).
    fn step(&mut self, ins: &Instr, next: Option<&Instr>) -> Result<Step, RewriteError> {
        if let Some(s) = self.control(ins, next)? {
            return Ok(s);
        }
        let kind = self
            .table
            .arg_kind(ins.op)
            .ok_or(RewriteError::UnknownOpcode {
                op: ins.op,
                offset: 0,
            })?;
        let out = match kind {
            ArgKind::Const => {
                let mut out = ins.clone();
                out.arg = *self
                    .snippet
                    .const_map
                    .get(ins.arg as usize)
                    .ok_or_else(|| {
                        RewriteError::Snippet(format!(
                            "snippet constant {} has no mapping",
                            ins.arg
                        ))
                    })?;
                vec![out]
            }
            ArgKind::Name { shift } => self.name(ins, shift)?,
            ArgKind::Local => vec![self.local(ins)?],
            ArgKind::LocalPair => self.local_pair(ins)?,
            ArgKind::Free => {
                let v = self.snippet.scope.name_at(ins.arg)?;
                let want = self.snippet.scope.kind(&v).unwrap_or(VarKind::Cell);
                let mut out = ins.clone();
                out.arg = self.vars.index_of(&v, want)?;
                vec![out]
            }
            _ => vec![ins.clone()],
        };
        Ok(Step::Emit(out, 1))
    }
}

/// The mark of a relocated load of a closure's cell, kept when the copy is
/// spliced in (its other fields are set then).
fn cell_mark() -> Spliced {
    Spliced {
        outer: None,
        copy: 0,
        cell: true,
    }
}

/// The template's instructions after its first `RESUME`.
fn body_items(table: &OpcodeTable, snippet: &Snippet) -> Result<Vec<Item>, RewriteError> {
    let resume = table.known.resume;
    let items = &snippet.code.items;
    let start = items
        .iter()
        .position(|it| matches!(it, Item::Instr(i) if i.op == resume))
        .ok_or_else(|| RewriteError::Snippet("the snippet template has no RESUME".into()))?;
    Ok(items[start + 1..].to_vec())
}

impl Relocated {
    /// The target slots (localsplus indexes) any instruction of the
    /// relocated body names, plain locals, cells and free variables alike.
    pub fn slots_used(&self, table: &OpcodeTable) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for it in &self.body {
            if let Item::Instr(ins) = it {
                match table.arg_kind(ins.op) {
                    Some(ArgKind::Local | ArgKind::Free) => out.push(ins.arg),
                    Some(ArgKind::LocalPair) => out.extend([ins.arg >> 4, ins.arg & 15]),
                    _ => {}
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Extract the body of the template function and re-target every
    /// operand onto the target (`vars`, `names`). Labels stay snippet-local
    /// until [`Self::instantiate`].
    pub fn new(
        table: &'static OpcodeTable,
        snippet: &Snippet,
        vars: TargetVars<'_>,
        names: &mut Vec<String>,
    ) -> Result<Self, RewriteError> {
        let items = body_items(table, snippet)?;
        let mut m = Mapper {
            table,
            snippet,
            vars,
            names,
        };
        // New plain locals first: adding one shifts the target's cell and
        // free indexes, which must happen before any index is mapped.
        for it in &items {
            if let Item::Instr(ins) = it {
                let idxs: &[u32] = match table.arg_kind(ins.op) {
                    Some(ArgKind::Local) => &[ins.arg],
                    Some(ArgKind::LocalPair) => &[ins.arg >> 4, ins.arg & 15],
                    _ => &[],
                };
                for &i in idxs {
                    let name = snippet.scope.name_at(i)?;
                    m.vars.ensure(&name)?;
                }
            }
        }
        let mut body: Vec<Item> = Vec::with_capacity(items.len());
        let mut k = 0;
        while k < items.len() {
            let ins = match &items[k] {
                Item::Label(l) => {
                    body.push(Item::Label(*l));
                    k += 1;
                    continue;
                }
                Item::Instr(i) => i,
            };
            let next = match items.get(k + 1) {
                Some(Item::Instr(n)) => Some(n),
                _ => None,
            };
            match m.step(ins, next)? {
                Step::Skip => k += 1,
                Step::Emit(out, n) => {
                    body.extend(out.into_iter().map(Item::Instr));
                    k += n;
                }
            }
        }
        let k = &table.known;
        // stored or deleted: borrowed loads of them must own (`borrow`);
        // deleted (`del x`, the end of an `except ... as x`) or cleared by
        // an inlined comprehension of the snippet (3.12+: an exception
        // raised before the comprehension restores its variable leaves the
        // target's local unbound, in the target's handlers): loads of them
        // must check (`unbound`), as CPython compiles them in the source
        let stored_locals = locals_of(&body, |op| op == k.store_fast || op == k.delete_fast);
        let deleted_locals = locals_of(&body, |op| {
            op == k.delete_fast || Some(op) == k.load_fast_and_clear
        });
        let split = split_cold(table.version, &body).map(|(mut hot, cold)| {
            drop_final_jumps(&table.known, &mut hot);
            (hot, cold)
        });
        drop_final_jumps(&table.known, &mut body);
        Ok(Relocated {
            body,
            split,
            stored_locals,
            deleted_locals,
        })
    }

    /// True when the snippet has a cold part that can live out of line.
    pub fn has_cold_part(&self) -> bool {
        self.split.is_some()
    }

    /// One copy of the snippet for a site at stack depth `depth`, covered
    /// by `handler`, with location `loc`. Snippet labels are renamed to
    /// fresh target labels; the end label is placed after the copy if a
    /// jump uses it. With `cold_out`, the cold part (if the snippet has a
    /// movable one) is appended there instead of being spliced in line.
    pub fn instantiate(
        &self,
        code: &mut Code,
        depth: u32,
        handler: Option<Handler>,
        loc: Location,
        cold_out: Option<&mut Vec<Item>>,
    ) -> Vec<Item> {
        let end = code.new_label();
        let mut rename: HashMap<Label, Label> = HashMap::from([(END, end)]);
        let (hot, cold): (&[Item], &[Item]) = match (&self.split, &cold_out) {
            (Some((h, c)), Some(_)) => (h, c),
            _ => (&self.body, &[]),
        };
        // One renaming for both parts: the hot part's handlers are cold labels.
        let mut copy = |items: &[Item], code: &mut Code, out: &mut Vec<Item>| {
            let mut fresh =
                |l: Label, code: &mut Code| *rename.entry(l).or_insert_with(|| code.new_label());
            for item in items {
                match item {
                    Item::Label(l) => out.push(Item::Label(fresh(*l, code))),
                    Item::Instr(i) => {
                        let mut c = i.clone();
                        c.loc = loc;
                        c.spliced = Some(Spliced {
                            outer: handler,
                            copy: end.0,
                            cell: i.spliced.is_some_and(|s| s.cell),
                        });
                        c.target = c.target.map(|t| fresh(t, code));
                        c.handler = match i.handler {
                            Some(h) => Some(Handler {
                                target: fresh(h.target, code),
                                depth: h.depth + depth,
                                lasti: h.lasti,
                            }),
                            None => handler,
                        };
                        out.push(Item::Instr(c));
                    }
                }
            }
        };
        let mut out = Vec::with_capacity(hot.len() + 1);
        copy(hot, code, &mut out);
        if let Some(dst) = cold_out {
            copy(cold, code, dst);
        }
        // Only hot code jumps to the end (split_cold keeps cold jumps cold).
        if out
            .iter()
            .any(|it| matches!(it, Item::Instr(i) if i.target == Some(end)))
        {
            out.push(Item::Label(end));
        }
        out
    }
}

/// Target indexes of the plain locals that `body`'s instructions with an
/// opcode `pick` accepts name, sorted, without repeats.
fn locals_of(body: &[Item], pick: impl Fn(u8) -> bool) -> Vec<u32> {
    let mut out: Vec<u32> = body
        .iter()
        .filter_map(|it| match it {
            Item::Instr(i) if pick(i.op) => Some(i.arg),
            _ => None,
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Split a snippet body into hot and cold parts (see [`Relocated`]):
/// hot is what the body's first instruction reaches without exception
/// edges. Relative order is kept inside each part, so every jump inside the
/// cold part keeps its direction; a cold part that jumps to or falls
/// through into hot code (or the end) cannot move.
fn split_cold(version: PyVersion, body: &[Item]) -> Option<(Vec<Item>, Vec<Item>)> {
    let cfg = Cfg::of_items(version, body, &[END]).ok()?;
    let n = cfg.len();
    if n == 0 {
        return None;
    }
    let reached = cfg.reachable(&[0], false);
    // The exit counts as hot: cold code must not leave the snippet.
    let hot = |i: usize| i == n || reached[i];
    if (0..n).all(hot) {
        return None;
    }
    for i in (0..n).filter(|&i| !hot(i)) {
        if cfg.jump_target(i).is_some_and(hot) {
            return None; // a jump from cold to hot code would change direction
        }
        if cfg.falls_through(i) && hot(i + 1) {
            return None; // would fall through into hot code or off the end
        }
    }
    // Each label goes with the instruction after it; trailing labels (the
    // end of the snippet) are hot.
    let mut parts: (Vec<Item>, Vec<Item>) = (Vec::new(), Vec::new());
    let mut idx = 0usize;
    for item in body {
        let is_hot = hot(idx);
        if matches!(item, Item::Instr(_)) {
            idx += 1;
        }
        if is_hot {
            parts.0.push(item.clone());
        } else {
            parts.1.push(item.clone());
        }
    }
    Some(parts)
}

/// Drop final jumps to the end of the snippet: they would jump to the next
/// instruction.
fn drop_final_jumps(k: &Known, body: &mut Vec<Item>) {
    while let Some(pos) = body.iter().rposition(|it| matches!(it, Item::Instr(_))) {
        match &body[pos] {
            Item::Instr(last)
                if last.target == Some(END)
                    && last.op == k.jump_forward
                    && last.handler.is_none() =>
            {
                body.remove(pos);
            }
            _ => break,
        }
    }
}
