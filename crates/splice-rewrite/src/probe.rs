//! Splicing probes into a decoded code object.
//!
//! A *line probe* is the body of a template function that CPython compiled in
//! a scope mirroring the target (see `python/splice/template.py`). Its
//! instructions are copied to every place where a `sys.settrace` 'line'
//! event for the probe's line would fire, with every operand re-targeted:
//! constants through a map the bindings built, names by text, local, cell and
//! free variables by name (new plain locals are appended to the target), and
//! loads of *hook* globals replaced by constant loads of the hook objects.
//!
//! A *capture probe* calls an `enter` hook after the first `RESUME`, an
//! `exit(value)` hook before every return, and an `error(exc)` hook from a
//! new outermost exception handler that re-raises unchanged (`RERAISE 1`
//! restores the raising instruction, so tracebacks do not change).
//!
//! Where line events fire is decided per control-flow *edge* into an
//! instruction of the line, following CPython's rules (3.11 `ceval.c`
//! `maybe_call_line_trace`; 3.12+ `instrumentation.c` and
//! `legacy_tracing.c`): an edge fires when it comes from an instruction of
//! another line (or none), from a `RESUME`, or is a backward jump. When
//! every edge into an instruction fires, the probe goes right before it;
//! otherwise a copy of the probe gets its own label and only the firing
//! jumps and exception edges are re-targeted to it.

use std::collections::{HashMap, HashSet};

use crate::linetable::Location;
use crate::model::{Code, Handler, Instr, Item, Label};
use crate::opcodes::{self, ArgKind, OpcodeTable};
use crate::stackdepth;
use crate::verify::{required_jump_target, required_successor};
use crate::{PyVersion, RewriteError};

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
        let mut out = self.varnames.clone();
        out.extend(
            self.cellvars
                .iter()
                .filter(|c| !self.varnames.contains(c))
                .cloned(),
        );
        out.extend(self.freevars.iter().cloned());
        out
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
}

/// The code object being instrumented, with the tables its operands index.
#[derive(Clone, Debug)]
pub struct Target {
    pub code: Code,
    pub scope: Scope,
    pub names: Vec<String>,
    /// Length of `co_consts`, including constants the bindings appended for
    /// snippets and hooks.
    pub n_consts: usize,
}

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

/// Where a line probe goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Site {
    /// Right after the first `RESUME`.
    Entry,
    /// Wherever a 'line' event for one of these lines would fire.
    Lines(Vec<i32>),
}

/// Hooks of a capture probe, as indexes into the target's consts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureHooks {
    pub enter: Option<u32>,
    pub exit: u32,
    pub error: u32,
}

/// One probe.
#[derive(Clone, Debug)]
pub enum Probe {
    Line { site: Site, snippet: Box<Snippet> },
    Capture(CaptureHooks),
}

/// Result summary, for tests and `show`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Number of places a line probe was copied to.
    pub sites: usize,
    /// Plain locals appended to `co_varnames` by snippets.
    pub new_locals: Vec<String>,
}

fn op(table: &OpcodeTable, name: &str) -> Result<u8, RewriteError> {
    table.by_name(name).ok_or_else(|| {
        RewriteError::Verify(format!(
            "{name} does not exist on CPython {}",
            table.version
        ))
    })
}

fn name_of(table: &OpcodeTable, code: u8) -> &'static str {
    table.info(code).map(|o| o.name).unwrap_or("?")
}

fn plain(op: u8, arg: u32, loc: Location, handler: Option<Handler>) -> Instr {
    Instr {
        op,
        arg,
        target: None,
        loc,
        handler,
    }
}

/// The call sequence `hook(*top n stack values)`, leaving the result on the
/// stack, for each version's calling convention. The arguments must already
/// be on the stack; `n` is 0 or 1.
fn call_const(
    table: &OpcodeTable,
    hook: u32,
    n: u32,
    loc: Location,
    handler: Option<Handler>,
) -> Result<Vec<Instr>, RewriteError> {
    let i = |name: &str, arg: u32| -> Result<Instr, RewriteError> {
        Ok(plain(op(table, name)?, arg, loc, handler))
    };
    let mut out = Vec::new();
    match (table.version, n) {
        // NULL, callable, args
        (PyVersion::V311 | PyVersion::V312, 0) => {
            out.push(i("PUSH_NULL", 0)?);
            out.push(i("LOAD_CONST", hook)?);
        }
        (PyVersion::V311 | PyVersion::V312, _) => {
            out.push(i("PUSH_NULL", 0)?);
            out.push(i("SWAP", 2)?);
            out.push(i("LOAD_CONST", hook)?);
            out.push(i("SWAP", 2)?);
        }
        // callable, NULL, args
        (PyVersion::V313, 0) => {
            out.push(i("LOAD_CONST", hook)?);
            out.push(i("PUSH_NULL", 0)?);
        }
        (PyVersion::V313, _) => {
            out.push(i("LOAD_CONST", hook)?);
            out.push(i("SWAP", 2)?);
            out.push(i("PUSH_NULL", 0)?);
            out.push(i("SWAP", 2)?);
        }
    }
    if table.version == PyVersion::V311 {
        out.push(i("PRECALL", n)?);
    }
    out.push(i("CALL", n)?);
    Ok(out)
}

/// Control-flow facts about the flattened target.
struct Flow<'a> {
    instrs: Vec<&'a Instr>,
    labels: HashMap<Label, usize>,
    /// Index of the first RESUME; nothing is inserted at or before it.
    first_resume: usize,
}

impl<'a> Flow<'a> {
    fn new(code: &'a Code, table: &OpcodeTable) -> Result<Self, RewriteError> {
        let (instrs, labels) = code.flatten()?;
        let resume = op(table, "RESUME")?;
        let first_resume = instrs
            .iter()
            .position(|i| i.op == resume)
            .ok_or_else(|| RewriteError::Verify("the code has no RESUME instruction".into()))?;
        Ok(Flow {
            instrs,
            labels,
            first_resume,
        })
    }
}

/// An edge into an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Edge {
    Fallthrough,
    Jump(usize),
    Exception(usize),
}

/// What to do at one instruction of a probed line.
#[derive(Clone, Debug, Default)]
struct SitePlan {
    /// Every edge fires: insert the probe right before the instruction,
    /// after its labels.
    all: bool,
    /// Some edges fire: jumps and handlers from these instructions go to a
    /// probe copy with its own label.
    jumps: Vec<usize>,
    handlers: Vec<usize>,
    /// The fallthrough edge exists and fires.
    fallthrough_fires: bool,
    /// The fallthrough edge exists and does not fire.
    fallthrough_skips: bool,
}

fn plan_line_sites(
    table: &OpcodeTable,
    flow: &Flow,
    lines: &HashSet<i32>,
) -> Result<HashMap<usize, SitePlan>, RewriteError> {
    let n = flow.instrs.len();
    let resume = op(table, "RESUME")?;
    let send = table.by_name("SEND");
    let no_interrupt = table.by_name("JUMP_BACKWARD_NO_INTERRUPT");
    // Incoming edges per instruction.
    let mut incoming: Vec<Vec<Edge>> = vec![Vec::new(); n];
    let mut pinned = vec![false; n];
    for (j, ins) in flow.instrs.iter().enumerate() {
        let name = name_of(table, ins.op);
        if let Some(t) = ins.target {
            let ti = flow.labels[&t];
            incoming[ti].push(Edge::Jump(j));
            if required_jump_target(table.version, name).is_some() {
                pinned[ti] = true;
            }
        }
        if let Some(h) = ins.handler {
            incoming[flow.labels[&h.target]].push(Edge::Exception(j));
        }
        if j + 1 < n && !table.is_terminal(ins.op) {
            incoming[j + 1].push(Edge::Fallthrough);
            if required_successor(table.version, name).is_some() {
                pinned[j + 1] = true;
            }
        }
    }
    let mut plans = HashMap::new();
    for (i, ins) in flow.instrs.iter().enumerate() {
        let Some(line) = ins.loc.line else { continue };
        if i <= flow.first_resume || !lines.contains(&line) || pinned[i] || ins.op == resume {
            continue;
        }
        // A generator resuming after `YIELD_VALUE; RESUME` continues on
        // the yield's line without a new event; only the function's first
        // RESUME (entry) counts as coming from "no line".
        // A backward jump within one line fires again: on 3.11 any backward
        // transfer except into SEND (ceval's `maybe_call_line_trace`); on
        // 3.12+ only through the JUMP event of an instrumented JUMP_BACKWARD
        // (legacy_tracing.c `sys_trace_jump_func`): JUMP_BACKWARD_NO_INTERRUPT,
        // the back edge of `yield from` / `await`, has no instrumented form.
        let fires = |p: usize, backward: bool| {
            let pi = flow.instrs[p];
            let backward_fires = backward
                && match table.version {
                    PyVersion::V311 => Some(ins.op) != send,
                    _ => Some(pi.op) != no_interrupt,
                };
            pi.loc.line != Some(line) || p == flow.first_resume || backward_fires
        };
        let mut plan = SitePlan::default();
        let mut any_skip = false;
        for e in &incoming[i] {
            match *e {
                Edge::Fallthrough => {
                    if fires(i - 1, false) {
                        plan.fallthrough_fires = true;
                    } else {
                        plan.fallthrough_skips = true;
                        any_skip = true;
                    }
                }
                Edge::Jump(j) => {
                    if fires(j, j >= i) {
                        plan.jumps.push(j);
                    } else {
                        any_skip = true;
                    }
                }
                Edge::Exception(j) => {
                    if fires(j, false) {
                        plan.handlers.push(j);
                    } else {
                        any_skip = true;
                    }
                }
            }
        }
        if !plan.fallthrough_fires && plan.jumps.is_empty() && plan.handlers.is_empty() {
            continue;
        }
        plan.all = !any_skip;
        plans.insert(i, plan);
    }
    Ok(plans)
}

/// Re-target a snippet's instructions onto the target. Returns the
/// instructions (with fresh labels) for one copy, ending at `end`.
struct SnippetCopier {
    /// The whole snippet, in the template's order.
    body: Vec<Item>,
    /// The same, split into the part normal control flow reaches (`hot`,
    /// spliced at the site) and the part only exception edges reach
    /// (`cold`: the template's exception-note handler, appended after the
    /// function's last instruction), or `None` when the cold part cannot
    /// move (it falls through into or jumps to hot code).
    split: Option<(Vec<Item>, Vec<Item>)>,
}

/// Split a snippet body into hot and cold parts (see [`SnippetCopier`]).
/// Relative order is kept inside each part, so every jump inside the cold
/// part keeps its direction; jumps from cold to hot code are refused,
/// because they would change direction.
fn split_cold(table: &OpcodeTable, body: &[Item], end: Label) -> Option<(Vec<Item>, Vec<Item>)> {
    // Position of each label: the index of the item after it.
    let mut at: HashMap<Label, usize> = HashMap::new();
    for (k, it) in body.iter().enumerate() {
        if let Item::Label(l) = it {
            at.insert(*l, k);
        }
    }
    let next_instr = |mut k: usize| -> Option<usize> {
        while k < body.len() {
            if matches!(body[k], Item::Instr(_)) {
                return Some(k);
            }
            k += 1;
        }
        None
    };
    let mut hot = vec![false; body.len()];
    let mut work: Vec<usize> = next_instr(0).into_iter().collect();
    while let Some(k) = work.pop() {
        if hot[k] {
            continue;
        }
        hot[k] = true;
        let Item::Instr(ins) = &body[k] else { continue };
        if let Some(t) = ins.target {
            if t != end {
                if let Some(j) = at.get(&t).and_then(|&p| next_instr(p)) {
                    work.push(j);
                }
            }
        }
        if !table.is_terminal(ins.op) {
            if let Some(j) = next_instr(k + 1) {
                work.push(j);
            }
        }
    }
    // Labels go with the instruction that follows them; trailing labels
    // (jumps to the end of the snippet) stay hot.
    for k in (0..body.len()).rev() {
        if let Item::Label(_) = body[k] {
            hot[k] = next_instr(k).is_none_or(|j| hot[j]);
        }
    }
    if hot.iter().all(|&h| h) {
        return None;
    }
    let cold_label = |l: &Label| at.get(l).is_some_and(|&p| !hot[p]);
    let mut last_cold: Option<&Instr> = None;
    for (k, it) in body.iter().enumerate() {
        if hot[k] {
            continue;
        }
        if let Item::Instr(ins) = it {
            if ins.target.is_some_and(|t| !cold_label(&t)) {
                return None;
            }
            if !table.is_terminal(ins.op) && next_instr(k + 1).is_none_or(|j| hot[j]) {
                return None; // would fall through into hot code
            }
            last_cold = Some(ins);
        }
    }
    if !last_cold.is_some_and(|i| table.is_terminal(i.op)) {
        return None;
    }
    let pick = |want: bool| -> Vec<Item> {
        body.iter()
            .zip(&hot)
            .filter(|(_, &h)| h == want)
            .map(|(it, _)| it.clone())
            .collect()
    };
    Some((pick(true), pick(false)))
}

/// Drop final jumps to the end of the snippet: they would jump to the next
/// instruction.
fn drop_final_jumps(body: &mut Vec<Item>, jump_forward: u8, end: Label) {
    // Labels after the last instruction stand for the end as well.
    while let Some(k) = body.iter().rposition(|it| matches!(it, Item::Instr(_))) {
        match &body[k] {
            Item::Instr(last)
                if last.target == Some(end)
                    && last.op == jump_forward
                    && last.handler.is_none() =>
            {
                body.remove(k);
            }
            _ => break,
        }
    }
}

impl SnippetCopier {
    /// Extract the body of the template function and re-target every
    /// operand. Labels stay snippet-local until [`Self::instantiate`].
    fn new(
        table: &OpcodeTable,
        snippet: &Snippet,
        target: &mut Target,
        report: &mut Report,
    ) -> Result<Self, RewriteError> {
        let version = table.version;
        let t = table;
        let resume = op(t, "RESUME")?;
        let load_const = op(t, "LOAD_CONST")?;
        let return_value = op(t, "RETURN_VALUE")?;
        let return_const = t.by_name("RETURN_CONST");
        let push_null = op(t, "PUSH_NULL")?;
        let jump_forward = op(t, "JUMP_FORWARD")?;
        let nop = t.by_name("NOP");
        let load_fast = t.by_name("LOAD_FAST");
        let load_fast_check = t.by_name("LOAD_FAST_CHECK");
        let snippet_locals = snippet.scope.localsplus();

        let items = &snippet.code.items;
        let start = items
            .iter()
            .position(|it| matches!(it, Item::Instr(i) if i.op == resume))
            .ok_or_else(|| RewriteError::Verify("the snippet template has no RESUME".into()))?
            + 1;
        // The end of the snippet: implicit `return None`s jump here.
        let end = Label(u32::MAX);
        let none_const = |k: u32| snippet.none_consts.contains(&k);

        // New plain locals first: appending one shifts the target's cell and
        // free indexes, which must happen before any index is mapped.
        for it in &items[start..] {
            if let Item::Instr(ins) = it {
                let idxs: Vec<u32> = match t.info(ins.op).map(|o| o.arg) {
                    Some(ArgKind::Local) => vec![ins.arg],
                    Some(ArgKind::LocalPair) => vec![ins.arg >> 4, ins.arg & 15],
                    _ => vec![],
                };
                for i in idxs {
                    let v = local_index(&snippet_locals, i)?;
                    if target.scope.kind(&v).is_none() {
                        add_local(target, &v, report)?;
                    }
                }
            }
        }

        let mut body: Vec<Item> = Vec::new();
        let mut k = start;
        while k < items.len() {
            let ins = match &items[k] {
                Item::Label(l) => {
                    body.push(Item::Label(*l));
                    k += 1;
                    continue;
                }
                Item::Instr(i) => i,
            };
            let name = name_of(t, ins.op);
            let info = t.info(ins.op).ok_or(RewriteError::UnknownOpcode {
                op: ins.op,
                offset: k,
            })?;
            // The template's NOPs only carry line numbers (a `try:` line, a
            // `pass`); every copied instruction gets the site's location,
            // so they would cost a dispatch for nothing.
            if Some(ins.op) == nop {
                k += 1;
                continue;
            }
            // Implicit `return None` -> jump to the end of the snippet.
            if ins.op == load_const && none_const(ins.arg) {
                if let Some(Item::Instr(next)) = items.get(k + 1) {
                    if next.op == return_value {
                        body.push(Item::Instr(Instr {
                            op: jump_forward,
                            arg: 0,
                            target: Some(end),
                            loc: ins.loc,
                            handler: ins.handler,
                        }));
                        k += 2;
                        continue;
                    }
                }
            }
            if Some(ins.op) == return_const && none_const(ins.arg) {
                body.push(Item::Instr(Instr {
                    op: jump_forward,
                    arg: 0,
                    target: Some(end),
                    loc: ins.loc,
                    handler: ins.handler,
                }));
                k += 1;
                continue;
            }
            if ins.op == return_value || Some(ins.op) == return_const {
                return Err(RewriteError::Verify(
                    "the snippet returns a value; probes cannot return from the function".into(),
                ));
            }
            if matches!(
                name,
                "YIELD_VALUE" | "RETURN_GENERATOR" | "SEND" | "GET_AWAITABLE"
            ) {
                return Err(RewriteError::Verify(format!(
                    "the snippet uses {name}; probes cannot yield or await"
                )));
            }
            let mut out = ins.clone();
            let mut extra_before: Option<Instr> = None;
            let mut extra_after: Option<Instr> = None;
            match info.arg {
                ArgKind::Const => {
                    out.arg = *snippet.const_map.get(ins.arg as usize).ok_or_else(|| {
                        RewriteError::Verify(format!("snippet constant {} has no mapping", ins.arg))
                    })?;
                }
                ArgKind::Name { shift } => {
                    let idx = (ins.arg >> shift) as usize;
                    let flags = ins.arg & ((1 << shift) - 1);
                    let gname = snippet.names.get(idx).ok_or_else(|| {
                        RewriteError::Verify(format!("snippet name index {idx} out of range"))
                    })?;
                    if let Some(&hook) = snippet.hooks.get(gname) {
                        match name {
                            "LOAD_GLOBAL" | "LOAD_NAME" => {
                                out.op = load_const;
                                out.arg = hook;
                                if name == "LOAD_GLOBAL" && flags & 1 == 1 {
                                    let null = plain(push_null, 0, ins.loc, ins.handler);
                                    if version == PyVersion::V313 {
                                        extra_after = Some(null);
                                    } else {
                                        extra_before = Some(null);
                                    }
                                }
                            }
                            "LOAD_ATTR" | "LOAD_METHOD" | "STORE_ATTR" | "DELETE_ATTR"
                            | "IMPORT_NAME" | "IMPORT_FROM" | "LOAD_SUPER_ATTR" => {
                                out.arg = (intern(&mut target.names, gname) << shift) | flags;
                            }
                            _ => {
                                return Err(RewriteError::Verify(format!(
                                    "the snippet assigns or deletes '{gname}', a name splice provides; choose another name"
                                )))
                            }
                        }
                    } else {
                        out.arg = (intern(&mut target.names, gname) << shift) | flags;
                    }
                }
                ArgKind::Local => {
                    let v = local_index(&snippet_locals, ins.arg)?;
                    out.arg = map_local(target, &snippet.scope, &v, VarKind::Fast, report)?;
                    if version >= PyVersion::V312 && Some(ins.op) == load_fast {
                        // The template's locals are parameters, so CPython
                        // proved them bound; the target's may not be yet.
                        out.op = load_fast_check.ok_or_else(|| {
                            RewriteError::Verify("LOAD_FAST_CHECK missing".into())
                        })?;
                    }
                }
                ArgKind::Free => {
                    let v = local_index(&snippet_locals, ins.arg)?;
                    let kind = snippet.scope.kind(&v).unwrap_or(VarKind::Cell);
                    out.arg = map_local(target, &snippet.scope, &v, kind, report)?;
                }
                ArgKind::LocalPair => {
                    // Split: the target's indexes may not fit in 4 bits, and
                    // the loads must become checked loads.
                    let a = local_index(&snippet_locals, ins.arg >> 4)?;
                    let b = local_index(&snippet_locals, ins.arg & 15)?;
                    let ia = map_local(target, &snippet.scope, &a, VarKind::Fast, report)?;
                    let ib = map_local(target, &snippet.scope, &b, VarKind::Fast, report)?;
                    let (first, second) = match name {
                        "LOAD_FAST_LOAD_FAST" => ("LOAD_FAST_CHECK", "LOAD_FAST_CHECK"),
                        "STORE_FAST_STORE_FAST" => ("STORE_FAST", "STORE_FAST"),
                        "STORE_FAST_LOAD_FAST" => ("STORE_FAST", "LOAD_FAST_CHECK"),
                        other => {
                            return Err(RewriteError::Verify(format!(
                                "unknown superinstruction {other}"
                            )))
                        }
                    };
                    body.push(Item::Instr(plain(op(t, first)?, ia, ins.loc, ins.handler)));
                    body.push(Item::Instr(plain(op(t, second)?, ib, ins.loc, ins.handler)));
                    k += 1;
                    continue;
                }
                _ => {}
            }
            if let Some(x) = extra_before {
                body.push(Item::Instr(x));
            }
            body.push(Item::Instr(out));
            if let Some(x) = extra_after {
                body.push(Item::Instr(x));
            }
            k += 1;
        }
        let split = split_cold(t, &body, end).map(|(mut hot, cold)| {
            drop_final_jumps(&mut hot, jump_forward, end);
            (hot, cold)
        });
        drop_final_jumps(&mut body, jump_forward, end);
        Ok(SnippetCopier { body, split })
    }

    /// One copy of the snippet for a site at stack depth `depth`, covered by
    /// `handler`, with location `loc`. Snippet labels are renamed to fresh
    /// target labels; `end` is placed after the copy.
    /// With `cold_out`, the cold part (if the snippet has a movable one) is
    /// appended there instead of being spliced in line.
    fn instantiate(
        &self,
        code: &mut Code,
        depth: u32,
        handler: Option<Handler>,
        loc: Location,
        cold_out: Option<&mut Vec<Item>>,
    ) -> Vec<Item> {
        let mut rename: HashMap<Label, Label> = HashMap::new();
        let end = code.new_label();
        rename.insert(Label(u32::MAX), end);
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

fn intern(names: &mut Vec<String>, name: &str) -> u32 {
    if let Some(i) = names.iter().position(|n| n == name) {
        return i as u32;
    }
    names.push(name.to_string());
    (names.len() - 1) as u32
}

fn local_index(locals: &[String], i: u32) -> Result<String, RewriteError> {
    locals
        .get(i as usize)
        .cloned()
        .ok_or_else(|| RewriteError::Verify(format!("snippet local index {i} out of range")))
}

/// Index of variable `name` in the target's localsplus, appending a new plain
/// local when the snippet introduces one. The kinds must agree: the template
/// mirrors the target's scope, so a mismatch means it did not.
fn map_local(
    target: &mut Target,
    _snippet_scope: &Scope,
    name: &str,
    want: VarKind,
    report: &mut Report,
) -> Result<u32, RewriteError> {
    match target.scope.kind(name) {
        Some(kind) if kind == want || (want != VarKind::Fast && kind != VarKind::Fast) => {}
        Some(kind) => {
            return Err(RewriteError::Verify(format!(
                "the snippet uses '{name}' as a {want:?} variable but it is a {kind:?} variable of the function"
            )))
        }
        None if want == VarKind::Fast => add_local(target, name, report)?,
        None => {
            return Err(RewriteError::Verify(format!(
                "the snippet needs '{name}' as a closure variable, which the function does not have"
            )))
        }
    }
    let all = target.scope.localsplus();
    all.iter()
        .position(|n| n == name)
        .map(|i| i as u32)
        .ok_or_else(|| RewriteError::Verify(format!("variable '{name}' not found")))
}

/// Append a new plain local. Appending to `co_varnames` shifts every cell
/// and free index of the target by one.
fn add_local(target: &mut Target, name: &str, report: &mut Report) -> Result<(), RewriteError> {
    let old = target.scope.varnames.len() as u32;
    shift_cells(&mut target.code, old)?;
    target.scope.varnames.push(name.to_string());
    target.code.counts.localsplus += 1;
    report.new_locals.push(name.to_string());
    Ok(())
}

/// Add one to every localsplus index at or above `from` (cells and frees
/// after a new plain local is appended to `co_varnames`).
fn shift_cells(code: &mut Code, from: u32) -> Result<(), RewriteError> {
    let table = opcodes::table(code.version);
    for item in &mut code.items {
        if let Item::Instr(i) = item {
            match table.info(i.op).map(|o| o.arg) {
                Some(ArgKind::Local | ArgKind::Free) if i.arg >= from => i.arg += 1,
                Some(ArgKind::LocalPair) => {
                    let (a, b) = (i.arg >> 4, i.arg & 15);
                    let (a, b) = (a + u32::from(a >= from), b + u32::from(b >= from));
                    if a > 15 || b > 15 {
                        return Err(RewriteError::Verify(
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

/// Depth before each instruction of the target, for handler depths of
/// spliced code.
fn depths(code: &Code) -> Result<Vec<Option<u32>>, RewriteError> {
    let (instrs, labels) = code.flatten()?;
    Ok(stackdepth::compute(code.version, &instrs, &labels)?.before)
}

fn apply_line_probe(
    target: &mut Target,
    site: &Site,
    snippet: &Snippet,
    report: &mut Report,
) -> Result<(), RewriteError> {
    let table = opcodes::table(target.code.version);
    let copier = SnippetCopier::new(table, snippet, target, report)?;
    let depth_before = depths(&target.code)?;
    let jump_forward = op(table, "JUMP_FORWARD")?;

    // Plans refer to instruction indexes of the current target.
    let (plans, entry_after) = {
        let flow = Flow::new(&target.code, table)?;
        match site {
            Site::Entry => (HashMap::new(), Some(flow.first_resume)),
            Site::Lines(lines) => {
                let set: HashSet<i32> = lines.iter().copied().collect();
                (plan_line_sites(table, &flow, &set)?, None)
            }
        }
    };
    if plans.is_empty() && entry_after.is_none() {
        return Err(RewriteError::Verify(
            "no line event fires for the requested line(s) in this code object".into(),
        ));
    }

    // Labels for partial sites, and re-targeting of the firing edges.
    let mut probe_label: HashMap<usize, Label> = HashMap::new();
    for (&i, plan) in &plans {
        if !plan.all {
            probe_label.insert(i, target.code.new_label());
        }
    }
    {
        let mut idx = 0usize;
        let mut retarget_jump: HashMap<usize, Label> = HashMap::new();
        let mut retarget_handler: HashMap<usize, Label> = HashMap::new();
        for (&i, plan) in &plans {
            if let Some(&l) = probe_label.get(&i) {
                for &j in &plan.jumps {
                    retarget_jump.insert(j, l);
                }
                for &j in &plan.handlers {
                    retarget_handler.insert(j, l);
                }
            }
        }
        for item in &mut target.code.items {
            if let Item::Instr(ins) = item {
                if let Some(&l) = retarget_jump.get(&idx) {
                    ins.target = Some(l);
                }
                if let Some(&l) = retarget_handler.get(&idx) {
                    if let Some(h) = &mut ins.handler {
                        h.target = l;
                    }
                }
                idx += 1;
            }
        }
    }

    // Cold parts go after the function's last instruction, which must not
    // fall through (CPython's never does; checked, not assumed).
    let ends_terminal = target
        .code
        .items
        .iter()
        .rev()
        .find_map(|it| match it {
            Item::Instr(i) => Some(table.is_terminal(i.op)),
            Item::Label(_) => None,
        })
        .unwrap_or(false);
    let mut cold: Vec<Item> = Vec::new();
    let old = std::mem::take(&mut target.code.items);
    let mut out: Vec<Item> = Vec::with_capacity(old.len() * 2);
    let mut pending: Vec<Item> = Vec::new();
    let mut idx = 0usize;
    let mut prev_loc_handler: Option<(Location, Option<Handler>)> = None;
    for item in old {
        let ins = match item {
            Item::Label(_) => {
                pending.push(item);
                continue;
            }
            Item::Instr(i) => i,
        };
        if let Some(plan) = plans.get(&idx) {
            let line = ins.loc.line.unwrap_or(0);
            let loc = Location::line_only(line);
            let depth = depth_before[idx].unwrap_or(0);
            let copy = copier.instantiate(
                &mut target.code,
                depth,
                ins.handler,
                loc,
                ends_terminal.then_some(&mut cold),
            );
            report.sites += 1;
            if plan.all {
                out.append(&mut pending);
                out.extend(copy);
            } else {
                let lp = probe_label[&idx];
                if plan.fallthrough_skips {
                    // Fallthrough must not run the probe: jump over it.
                    let orig = target.code.new_label();
                    let (ploc, phandler) = prev_loc_handler.unwrap_or((ins.loc, ins.handler));
                    out.push(Item::Instr(Instr {
                        op: jump_forward,
                        arg: 0,
                        target: Some(orig),
                        loc: ploc,
                        handler: phandler,
                    }));
                    out.push(Item::Label(lp));
                    out.extend(copy);
                    out.push(Item::Label(orig));
                    out.append(&mut pending);
                } else {
                    out.push(Item::Label(lp));
                    out.extend(copy);
                    out.append(&mut pending);
                }
            }
        } else {
            out.append(&mut pending);
        }
        prev_loc_handler = Some((ins.loc, ins.handler));
        let is_entry = entry_after == Some(idx);
        let handler = ins.handler;
        out.push(Item::Instr(ins));
        if is_entry {
            let depth = depth_before[idx].unwrap_or(0);
            let first_line = target.code.firstlineno;
            let copy = copier.instantiate(
                &mut target.code,
                depth,
                handler,
                Location::line_only(first_line),
                ends_terminal.then_some(&mut cold),
            );
            report.sites += 1;
            out.extend(copy);
        }
        idx += 1;
    }
    out.append(&mut pending);
    out.append(&mut cold);
    target.code.items = out;
    Ok(())
}

fn apply_capture(target: &mut Target, hooks: CaptureHooks) -> Result<(), RewriteError> {
    let table = opcodes::table(target.code.version);
    let resume = op(table, "RESUME")?;
    let return_value = op(table, "RETURN_VALUE")?;
    let return_const = table.by_name("RETURN_CONST");
    let load_const = op(table, "LOAD_CONST")?;
    let copy = op(table, "COPY")?;
    let pop_top = op(table, "POP_TOP")?;
    let reraise = op(table, "RERAISE")?;
    let err_label = target.code.new_label();
    let err_handler = Handler {
        target: err_label,
        depth: 0,
        lasti: true,
    };

    let old = std::mem::take(&mut target.code.items);
    let mut out: Vec<Item> = Vec::with_capacity(old.len() + 32);
    let mut seen_resume = false;
    for item in old {
        let mut ins = match item {
            Item::Label(_) => {
                out.push(item);
                continue;
            }
            Item::Instr(i) => i,
        };
        let after_resume = seen_resume;
        if after_resume && ins.handler.is_none() {
            ins.handler = Some(err_handler);
        }
        let is_return = ins.op == return_value || Some(ins.op) == return_const;
        if after_resume && is_return {
            let (loc, handler) = (ins.loc, ins.handler);
            if Some(ins.op) == return_const {
                out.push(Item::Instr(plain(load_const, ins.arg, loc, handler)));
                ins.op = return_value;
                ins.arg = 0;
            }
            out.push(Item::Instr(plain(copy, 1, loc, handler)));
            for c in call_const(table, hooks.exit, 1, loc, handler)? {
                out.push(Item::Instr(c));
            }
            out.push(Item::Instr(plain(pop_top, 0, loc, handler)));
        }
        let is_first_resume = !seen_resume && ins.op == resume;
        let loc = ins.loc;
        out.push(Item::Instr(ins));
        if is_first_resume {
            seen_resume = true;
            if let Some(enter) = hooks.enter {
                let handler = Some(err_handler);
                for c in call_const(table, enter, 0, loc, handler)? {
                    out.push(Item::Instr(c));
                }
                out.push(Item::Instr(plain(pop_top, 0, loc, handler)));
            }
        }
    }
    if !seen_resume {
        return Err(RewriteError::Verify(
            "the code has no RESUME instruction".into(),
        ));
    }
    // The error handler: [lasti, exc] -> error(exc) -> RERAISE 1 (restores
    // lasti, so the traceback still points at the raising instruction).
    let none = Location::NONE;
    out.push(Item::Label(err_label));
    out.push(Item::Instr(plain(copy, 1, none, None)));
    for c in call_const(table, hooks.error, 1, none, None)? {
        out.push(Item::Instr(c));
    }
    out.push(Item::Instr(plain(pop_top, 0, none, None)));
    out.push(Item::Instr(plain(reraise, 1, none, None)));
    target.code.items = out;
    Ok(())
}

/// Apply `probes` to `target` in order.
pub fn instrument(target: &mut Target, probes: &[Probe]) -> Result<Report, RewriteError> {
    let mut report = Report::default();
    for p in probes {
        match p {
            Probe::Line { site, snippet } => apply_line_probe(target, site, snippet, &mut report)?,
            Probe::Capture(h) => apply_capture(target, *h)?,
        }
    }
    target.code.counts.consts = target.n_consts;
    target.code.counts.names = target.names.len();
    target.code.counts.localsplus = target.scope.localsplus().len();
    Ok(report)
}
