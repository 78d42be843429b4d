//! The opcodes splice's passes reason about, resolved once per version.
//!
//! Each version module defines a `KNOWN` constant of this type from its
//! generated opcode constants, so an opcode that a version lacks is a
//! compile error there (or an explicit `None`), never a lookup that fails
//! inside a pass. Fields that are `Option` exist on some versions only; the
//! comment on each says which.

/// Opcode numbers of one version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    pub cache: u8,
    pub extended_arg: u8,
    pub nop: u8,
    pub resume: u8,
    /// The bits of `RESUME`'s operand that say where it is; 0 is the start
    /// of the function (3.15 adds 4, the start of a generator expression,
    /// which runs before `RETURN_GENERATOR`).
    pub resume_location_mask: u32,
    /// 3.13+: the bit of a post-yield `RESUME`'s operand that says only the
    /// generator's implicit handler covers the yield; `gen.close()` then
    /// skips throwing `GeneratorExit` into the frame (Objects/genobject.c
    /// `gen_close`). 4 on 3.13/3.14, 8 on 3.15.
    pub resume_depth1_mask: Option<u32>,
    /// 3.12: `YIELD_VALUE`'s operand is the number of exception handlers
    /// around it, read by `gen_close` for the same shortcut.
    pub yield_value_arg_is_handler_depth: bool,

    // loads and stores
    pub load_const: u8,
    pub load_fast: u8,
    pub store_fast: u8,
    pub delete_fast: u8,
    /// Wraps a local in a new cell (never NULL afterwards).
    pub make_cell: u8,
    pub load_global: u8,
    pub store_global: u8,
    pub delete_global: u8,
    pub load_name: u8,
    pub store_name: u8,
    pub delete_name: u8,
    /// 3.12+: a load of a local that may be unbound.
    pub load_fast_check: Option<u8>,
    /// 3.12+: pushes a local (or NULL) and unbinds it (an inlined
    /// comprehension saving its iteration variable's outer value).
    pub load_fast_and_clear: Option<u8>,
    /// 3.14+: a load that borrows the local's reference (the compiler proved
    /// the local outlives the use).
    pub load_fast_borrow: Option<u8>,
    /// 3.13+ superinstructions: two 4-bit local indexes in one operand.
    pub load_fast_load_fast: Option<u8>,
    pub store_fast_load_fast: Option<u8>,
    pub store_fast_store_fast: Option<u8>,
    /// 3.14+: two borrowed loads in one instruction.
    pub load_fast_borrow_load_fast_borrow: Option<u8>,
    /// 3.14+: `AssertionError`, builtins, ... (3.15: also `None`) by index.
    pub load_common_constant: Option<u8>,
    /// The index of `None` in `LOAD_COMMON_CONSTANT`'s table (3.15+), how
    /// the implicit `return None` loads it.
    pub common_constant_none: Option<u32>,

    // stack and calls
    pub push_null: u8,
    pub pop_top: u8,
    pub copy: u8,
    pub swap: u8,
    pub call: u8,
    /// 3.11: `PRECALL n` comes before every `CALL n`.
    pub precall: Option<u8>,
    /// 3.11 and 3.12: `KW_NAMES` names the keyword arguments of the next
    /// call (on 3.12 it must come right before that `CALL`).
    pub kw_names: Option<u8>,
    /// Where the NULL of a call goes: after the callable (3.13+) or before it.
    pub null_after_callable: bool,

    // control flow
    pub return_value: u8,
    /// 3.12 and 3.13: `return <constant>` in one instruction.
    pub return_const: Option<u8>,
    pub reraise: u8,
    pub jump_forward: u8,
    pub jump_backward: u8,
    pub jump_backward_no_interrupt: u8,
    pub for_iter: u8,
    /// 3.12+: the instruction an exhausted `FOR_ITER` jumps to (or past).
    pub end_for: Option<u8>,
    /// 3.14+: pops the iterator after `END_FOR`.
    pub pop_iter: Option<u8>,
    /// 3.12+: ends a `SEND` loop (an exhausted `SEND` jumps past it).
    pub end_send: Option<u8>,
    pub end_async_for: u8,
    /// 3.14+: the fall-through side of a conditional jump (branch events).
    pub not_taken: Option<u8>,

    // generators and coroutines
    pub return_generator: u8,
    pub yield_value: u8,
    pub send: u8,
    pub get_awaitable: u8,
}

impl Known {
    /// Every field as `(opcode name, number)`, `None` where the version has
    /// no such opcode; for the table tests, which check each number against
    /// the name and the running interpreter's `opcode.opmap`.
    pub fn named(&self) -> Vec<(&'static str, Option<u8>)> {
        vec![
            ("CACHE", Some(self.cache)),
            ("EXTENDED_ARG", Some(self.extended_arg)),
            ("NOP", Some(self.nop)),
            ("RESUME", Some(self.resume)),
            ("LOAD_CONST", Some(self.load_const)),
            ("LOAD_FAST", Some(self.load_fast)),
            ("STORE_FAST", Some(self.store_fast)),
            ("DELETE_FAST", Some(self.delete_fast)),
            ("MAKE_CELL", Some(self.make_cell)),
            ("LOAD_GLOBAL", Some(self.load_global)),
            ("STORE_GLOBAL", Some(self.store_global)),
            ("DELETE_GLOBAL", Some(self.delete_global)),
            ("LOAD_NAME", Some(self.load_name)),
            ("STORE_NAME", Some(self.store_name)),
            ("DELETE_NAME", Some(self.delete_name)),
            ("LOAD_FAST_CHECK", self.load_fast_check),
            ("LOAD_FAST_AND_CLEAR", self.load_fast_and_clear),
            ("LOAD_FAST_BORROW", self.load_fast_borrow),
            ("LOAD_FAST_LOAD_FAST", self.load_fast_load_fast),
            ("STORE_FAST_LOAD_FAST", self.store_fast_load_fast),
            ("STORE_FAST_STORE_FAST", self.store_fast_store_fast),
            (
                "LOAD_FAST_BORROW_LOAD_FAST_BORROW",
                self.load_fast_borrow_load_fast_borrow,
            ),
            ("LOAD_COMMON_CONSTANT", self.load_common_constant),
            ("PUSH_NULL", Some(self.push_null)),
            ("POP_TOP", Some(self.pop_top)),
            ("COPY", Some(self.copy)),
            ("SWAP", Some(self.swap)),
            ("CALL", Some(self.call)),
            ("PRECALL", self.precall),
            ("KW_NAMES", self.kw_names),
            ("RETURN_VALUE", Some(self.return_value)),
            ("RETURN_CONST", self.return_const),
            ("RERAISE", Some(self.reraise)),
            ("JUMP_FORWARD", Some(self.jump_forward)),
            ("JUMP_BACKWARD", Some(self.jump_backward)),
            (
                "JUMP_BACKWARD_NO_INTERRUPT",
                Some(self.jump_backward_no_interrupt),
            ),
            ("FOR_ITER", Some(self.for_iter)),
            ("END_FOR", self.end_for),
            ("POP_ITER", self.pop_iter),
            ("END_SEND", self.end_send),
            ("END_ASYNC_FOR", Some(self.end_async_for)),
            ("NOT_TAKEN", self.not_taken),
            ("RETURN_GENERATOR", Some(self.return_generator)),
            ("YIELD_VALUE", Some(self.yield_value)),
            ("SEND", Some(self.send)),
            ("GET_AWAITABLE", Some(self.get_awaitable)),
        ]
    }

    /// True for the opcodes that load a plain local (any form, checked or
    /// borrowed), one at a time.
    pub fn is_single_local_load(&self, op: u8) -> bool {
        op == self.load_fast
            || Some(op) == self.load_fast_check
            || Some(op) == self.load_fast_borrow
    }

    /// True for the `RESUME` where the function's body starts: the one
    /// after `RETURN_GENERATOR` in generators and coroutines, and on 3.15
    /// not the generator-expression prologue's `RESUME 4`.
    pub fn is_body_start(&self, op: u8, arg: u32) -> bool {
        op == self.resume && arg & self.resume_location_mask == 0
    }

    /// True for `RETURN_VALUE` and, where it exists, `RETURN_CONST`.
    pub fn is_return(&self, op: u8) -> bool {
        op == self.return_value || Some(op) == self.return_const
    }
}
