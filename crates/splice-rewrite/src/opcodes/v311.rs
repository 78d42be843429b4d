//! CPython 3.11 opcodes.
//!
//! Stack effects follow `stack_effect()` in 3.11's `Python/compile.c`, which
//! is what `dis.stack_effect` calls. `jump` is the C int CPython passes:
//! `None` is -1, so "jump ? a : b" takes `a` for `None` and
//! "jump > 0 ? a : b" takes `b`.

use super::{ArgKind, Known, OpInfo};

// BEGIN GENERATED (tools/gen_opcodes.py)
// Data from CPython 3.11.7's `opcode` module; rerun the tool to refresh.

/// `opcode.HAVE_ARGUMENT`.
pub const HAVE_ARGUMENT: u8 = 90;

pub const CACHE: u8 = 0;
pub const POP_TOP: u8 = 1;
pub const PUSH_NULL: u8 = 2;
pub const NOP: u8 = 9;
pub const UNARY_POSITIVE: u8 = 10;
pub const UNARY_NEGATIVE: u8 = 11;
pub const UNARY_NOT: u8 = 12;
pub const UNARY_INVERT: u8 = 15;
pub const BINARY_SUBSCR: u8 = 25;
pub const GET_LEN: u8 = 30;
pub const MATCH_MAPPING: u8 = 31;
pub const MATCH_SEQUENCE: u8 = 32;
pub const MATCH_KEYS: u8 = 33;
pub const PUSH_EXC_INFO: u8 = 35;
pub const CHECK_EXC_MATCH: u8 = 36;
pub const CHECK_EG_MATCH: u8 = 37;
pub const WITH_EXCEPT_START: u8 = 49;
pub const GET_AITER: u8 = 50;
pub const GET_ANEXT: u8 = 51;
pub const BEFORE_ASYNC_WITH: u8 = 52;
pub const BEFORE_WITH: u8 = 53;
pub const END_ASYNC_FOR: u8 = 54;
pub const STORE_SUBSCR: u8 = 60;
pub const DELETE_SUBSCR: u8 = 61;
pub const GET_ITER: u8 = 68;
pub const GET_YIELD_FROM_ITER: u8 = 69;
pub const PRINT_EXPR: u8 = 70;
pub const LOAD_BUILD_CLASS: u8 = 71;
pub const LOAD_ASSERTION_ERROR: u8 = 74;
pub const RETURN_GENERATOR: u8 = 75;
pub const LIST_TO_TUPLE: u8 = 82;
pub const RETURN_VALUE: u8 = 83;
pub const IMPORT_STAR: u8 = 84;
pub const SETUP_ANNOTATIONS: u8 = 85;
pub const YIELD_VALUE: u8 = 86;
pub const ASYNC_GEN_WRAP: u8 = 87;
pub const PREP_RERAISE_STAR: u8 = 88;
pub const POP_EXCEPT: u8 = 89;
pub const STORE_NAME: u8 = 90;
pub const DELETE_NAME: u8 = 91;
pub const UNPACK_SEQUENCE: u8 = 92;
pub const FOR_ITER: u8 = 93;
pub const UNPACK_EX: u8 = 94;
pub const STORE_ATTR: u8 = 95;
pub const DELETE_ATTR: u8 = 96;
pub const STORE_GLOBAL: u8 = 97;
pub const DELETE_GLOBAL: u8 = 98;
pub const SWAP: u8 = 99;
pub const LOAD_CONST: u8 = 100;
pub const LOAD_NAME: u8 = 101;
pub const BUILD_TUPLE: u8 = 102;
pub const BUILD_LIST: u8 = 103;
pub const BUILD_SET: u8 = 104;
pub const BUILD_MAP: u8 = 105;
pub const LOAD_ATTR: u8 = 106;
pub const COMPARE_OP: u8 = 107;
pub const IMPORT_NAME: u8 = 108;
pub const IMPORT_FROM: u8 = 109;
pub const JUMP_FORWARD: u8 = 110;
pub const JUMP_IF_FALSE_OR_POP: u8 = 111;
pub const JUMP_IF_TRUE_OR_POP: u8 = 112;
pub const POP_JUMP_FORWARD_IF_FALSE: u8 = 114;
pub const POP_JUMP_FORWARD_IF_TRUE: u8 = 115;
pub const LOAD_GLOBAL: u8 = 116;
pub const IS_OP: u8 = 117;
pub const CONTAINS_OP: u8 = 118;
pub const RERAISE: u8 = 119;
pub const COPY: u8 = 120;
pub const BINARY_OP: u8 = 122;
pub const SEND: u8 = 123;
pub const LOAD_FAST: u8 = 124;
pub const STORE_FAST: u8 = 125;
pub const DELETE_FAST: u8 = 126;
pub const POP_JUMP_FORWARD_IF_NOT_NONE: u8 = 128;
pub const POP_JUMP_FORWARD_IF_NONE: u8 = 129;
pub const RAISE_VARARGS: u8 = 130;
pub const GET_AWAITABLE: u8 = 131;
pub const MAKE_FUNCTION: u8 = 132;
pub const BUILD_SLICE: u8 = 133;
pub const JUMP_BACKWARD_NO_INTERRUPT: u8 = 134;
pub const MAKE_CELL: u8 = 135;
pub const LOAD_CLOSURE: u8 = 136;
pub const LOAD_DEREF: u8 = 137;
pub const STORE_DEREF: u8 = 138;
pub const DELETE_DEREF: u8 = 139;
pub const JUMP_BACKWARD: u8 = 140;
pub const CALL_FUNCTION_EX: u8 = 142;
pub const EXTENDED_ARG: u8 = 144;
pub const LIST_APPEND: u8 = 145;
pub const SET_ADD: u8 = 146;
pub const MAP_ADD: u8 = 147;
pub const LOAD_CLASSDEREF: u8 = 148;
pub const COPY_FREE_VARS: u8 = 149;
pub const RESUME: u8 = 151;
pub const MATCH_CLASS: u8 = 152;
pub const FORMAT_VALUE: u8 = 155;
pub const BUILD_CONST_KEY_MAP: u8 = 156;
pub const BUILD_STRING: u8 = 157;
pub const LOAD_METHOD: u8 = 160;
pub const LIST_EXTEND: u8 = 162;
pub const SET_UPDATE: u8 = 163;
pub const DICT_MERGE: u8 = 164;
pub const DICT_UPDATE: u8 = 165;
pub const PRECALL: u8 = 166;
pub const CALL: u8 = 171;
pub const KW_NAMES: u8 = 172;
pub const POP_JUMP_BACKWARD_IF_NOT_NONE: u8 = 173;
pub const POP_JUMP_BACKWARD_IF_NONE: u8 = 174;
pub const POP_JUMP_BACKWARD_IF_FALSE: u8 = 175;
pub const POP_JUMP_BACKWARD_IF_TRUE: u8 = 176;

/// Every opcode of `opcode.opmap` below 256, by number.
#[rustfmt::skip]
pub static OPS: &[OpInfo] = &[
    OpInfo { name: "CACHE", code: CACHE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "POP_TOP", code: POP_TOP, caches: 0, arg: ArgKind::None },
    OpInfo { name: "PUSH_NULL", code: PUSH_NULL, caches: 0, arg: ArgKind::None },
    OpInfo { name: "NOP", code: NOP, caches: 0, arg: ArgKind::None },
    OpInfo { name: "UNARY_POSITIVE", code: UNARY_POSITIVE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "UNARY_NEGATIVE", code: UNARY_NEGATIVE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "UNARY_NOT", code: UNARY_NOT, caches: 0, arg: ArgKind::None },
    OpInfo { name: "UNARY_INVERT", code: UNARY_INVERT, caches: 0, arg: ArgKind::None },
    OpInfo { name: "BINARY_SUBSCR", code: BINARY_SUBSCR, caches: 4, arg: ArgKind::None },
    OpInfo { name: "GET_LEN", code: GET_LEN, caches: 0, arg: ArgKind::None },
    OpInfo { name: "MATCH_MAPPING", code: MATCH_MAPPING, caches: 0, arg: ArgKind::None },
    OpInfo { name: "MATCH_SEQUENCE", code: MATCH_SEQUENCE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "MATCH_KEYS", code: MATCH_KEYS, caches: 0, arg: ArgKind::None },
    OpInfo { name: "PUSH_EXC_INFO", code: PUSH_EXC_INFO, caches: 0, arg: ArgKind::None },
    OpInfo { name: "CHECK_EXC_MATCH", code: CHECK_EXC_MATCH, caches: 0, arg: ArgKind::None },
    OpInfo { name: "CHECK_EG_MATCH", code: CHECK_EG_MATCH, caches: 0, arg: ArgKind::None },
    OpInfo { name: "WITH_EXCEPT_START", code: WITH_EXCEPT_START, caches: 0, arg: ArgKind::None },
    OpInfo { name: "GET_AITER", code: GET_AITER, caches: 0, arg: ArgKind::None },
    OpInfo { name: "GET_ANEXT", code: GET_ANEXT, caches: 0, arg: ArgKind::None },
    OpInfo { name: "BEFORE_ASYNC_WITH", code: BEFORE_ASYNC_WITH, caches: 0, arg: ArgKind::None },
    OpInfo { name: "BEFORE_WITH", code: BEFORE_WITH, caches: 0, arg: ArgKind::None },
    OpInfo { name: "END_ASYNC_FOR", code: END_ASYNC_FOR, caches: 0, arg: ArgKind::None },
    OpInfo { name: "STORE_SUBSCR", code: STORE_SUBSCR, caches: 1, arg: ArgKind::None },
    OpInfo { name: "DELETE_SUBSCR", code: DELETE_SUBSCR, caches: 0, arg: ArgKind::None },
    OpInfo { name: "GET_ITER", code: GET_ITER, caches: 0, arg: ArgKind::None },
    OpInfo { name: "GET_YIELD_FROM_ITER", code: GET_YIELD_FROM_ITER, caches: 0, arg: ArgKind::None },
    OpInfo { name: "PRINT_EXPR", code: PRINT_EXPR, caches: 0, arg: ArgKind::None },
    OpInfo { name: "LOAD_BUILD_CLASS", code: LOAD_BUILD_CLASS, caches: 0, arg: ArgKind::None },
    OpInfo { name: "LOAD_ASSERTION_ERROR", code: LOAD_ASSERTION_ERROR, caches: 0, arg: ArgKind::None },
    OpInfo { name: "RETURN_GENERATOR", code: RETURN_GENERATOR, caches: 0, arg: ArgKind::None },
    OpInfo { name: "LIST_TO_TUPLE", code: LIST_TO_TUPLE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "RETURN_VALUE", code: RETURN_VALUE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "IMPORT_STAR", code: IMPORT_STAR, caches: 0, arg: ArgKind::None },
    OpInfo { name: "SETUP_ANNOTATIONS", code: SETUP_ANNOTATIONS, caches: 0, arg: ArgKind::None },
    OpInfo { name: "YIELD_VALUE", code: YIELD_VALUE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "ASYNC_GEN_WRAP", code: ASYNC_GEN_WRAP, caches: 0, arg: ArgKind::None },
    OpInfo { name: "PREP_RERAISE_STAR", code: PREP_RERAISE_STAR, caches: 0, arg: ArgKind::None },
    OpInfo { name: "POP_EXCEPT", code: POP_EXCEPT, caches: 0, arg: ArgKind::None },
    OpInfo { name: "STORE_NAME", code: STORE_NAME, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "DELETE_NAME", code: DELETE_NAME, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "UNPACK_SEQUENCE", code: UNPACK_SEQUENCE, caches: 1, arg: ArgKind::Plain },
    OpInfo { name: "FOR_ITER", code: FOR_ITER, caches: 0, arg: ArgKind::JumpForward },
    OpInfo { name: "UNPACK_EX", code: UNPACK_EX, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "STORE_ATTR", code: STORE_ATTR, caches: 4, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "DELETE_ATTR", code: DELETE_ATTR, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "STORE_GLOBAL", code: STORE_GLOBAL, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "DELETE_GLOBAL", code: DELETE_GLOBAL, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "SWAP", code: SWAP, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "LOAD_CONST", code: LOAD_CONST, caches: 0, arg: ArgKind::Const },
    OpInfo { name: "LOAD_NAME", code: LOAD_NAME, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "BUILD_TUPLE", code: BUILD_TUPLE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "BUILD_LIST", code: BUILD_LIST, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "BUILD_SET", code: BUILD_SET, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "BUILD_MAP", code: BUILD_MAP, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "LOAD_ATTR", code: LOAD_ATTR, caches: 4, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "COMPARE_OP", code: COMPARE_OP, caches: 2, arg: ArgKind::Compare },
    OpInfo { name: "IMPORT_NAME", code: IMPORT_NAME, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "IMPORT_FROM", code: IMPORT_FROM, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "JUMP_FORWARD", code: JUMP_FORWARD, caches: 0, arg: ArgKind::JumpForward },
    OpInfo { name: "JUMP_IF_FALSE_OR_POP", code: JUMP_IF_FALSE_OR_POP, caches: 0, arg: ArgKind::JumpForward },
    OpInfo { name: "JUMP_IF_TRUE_OR_POP", code: JUMP_IF_TRUE_OR_POP, caches: 0, arg: ArgKind::JumpForward },
    OpInfo { name: "POP_JUMP_FORWARD_IF_FALSE", code: POP_JUMP_FORWARD_IF_FALSE, caches: 0, arg: ArgKind::JumpForward },
    OpInfo { name: "POP_JUMP_FORWARD_IF_TRUE", code: POP_JUMP_FORWARD_IF_TRUE, caches: 0, arg: ArgKind::JumpForward },
    OpInfo { name: "LOAD_GLOBAL", code: LOAD_GLOBAL, caches: 5, arg: ArgKind::Name { shift: 1 } },
    OpInfo { name: "IS_OP", code: IS_OP, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "CONTAINS_OP", code: CONTAINS_OP, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "RERAISE", code: RERAISE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "COPY", code: COPY, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "BINARY_OP", code: BINARY_OP, caches: 1, arg: ArgKind::Plain },
    OpInfo { name: "SEND", code: SEND, caches: 0, arg: ArgKind::JumpForward },
    OpInfo { name: "LOAD_FAST", code: LOAD_FAST, caches: 0, arg: ArgKind::Local },
    OpInfo { name: "STORE_FAST", code: STORE_FAST, caches: 0, arg: ArgKind::Local },
    OpInfo { name: "DELETE_FAST", code: DELETE_FAST, caches: 0, arg: ArgKind::Local },
    OpInfo { name: "POP_JUMP_FORWARD_IF_NOT_NONE", code: POP_JUMP_FORWARD_IF_NOT_NONE, caches: 0, arg: ArgKind::JumpForward },
    OpInfo { name: "POP_JUMP_FORWARD_IF_NONE", code: POP_JUMP_FORWARD_IF_NONE, caches: 0, arg: ArgKind::JumpForward },
    OpInfo { name: "RAISE_VARARGS", code: RAISE_VARARGS, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "GET_AWAITABLE", code: GET_AWAITABLE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "MAKE_FUNCTION", code: MAKE_FUNCTION, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "BUILD_SLICE", code: BUILD_SLICE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "JUMP_BACKWARD_NO_INTERRUPT", code: JUMP_BACKWARD_NO_INTERRUPT, caches: 0, arg: ArgKind::JumpBackward },
    OpInfo { name: "MAKE_CELL", code: MAKE_CELL, caches: 0, arg: ArgKind::Free },
    OpInfo { name: "LOAD_CLOSURE", code: LOAD_CLOSURE, caches: 0, arg: ArgKind::Free },
    OpInfo { name: "LOAD_DEREF", code: LOAD_DEREF, caches: 0, arg: ArgKind::Free },
    OpInfo { name: "STORE_DEREF", code: STORE_DEREF, caches: 0, arg: ArgKind::Free },
    OpInfo { name: "DELETE_DEREF", code: DELETE_DEREF, caches: 0, arg: ArgKind::Free },
    OpInfo { name: "JUMP_BACKWARD", code: JUMP_BACKWARD, caches: 0, arg: ArgKind::JumpBackward },
    OpInfo { name: "CALL_FUNCTION_EX", code: CALL_FUNCTION_EX, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "EXTENDED_ARG", code: EXTENDED_ARG, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "LIST_APPEND", code: LIST_APPEND, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "SET_ADD", code: SET_ADD, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "MAP_ADD", code: MAP_ADD, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "LOAD_CLASSDEREF", code: LOAD_CLASSDEREF, caches: 0, arg: ArgKind::Free },
    OpInfo { name: "COPY_FREE_VARS", code: COPY_FREE_VARS, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "RESUME", code: RESUME, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "MATCH_CLASS", code: MATCH_CLASS, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "FORMAT_VALUE", code: FORMAT_VALUE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "BUILD_CONST_KEY_MAP", code: BUILD_CONST_KEY_MAP, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "BUILD_STRING", code: BUILD_STRING, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "LOAD_METHOD", code: LOAD_METHOD, caches: 10, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "LIST_EXTEND", code: LIST_EXTEND, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "SET_UPDATE", code: SET_UPDATE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "DICT_MERGE", code: DICT_MERGE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "DICT_UPDATE", code: DICT_UPDATE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "PRECALL", code: PRECALL, caches: 1, arg: ArgKind::Plain },
    OpInfo { name: "CALL", code: CALL, caches: 4, arg: ArgKind::Plain },
    OpInfo { name: "KW_NAMES", code: KW_NAMES, caches: 0, arg: ArgKind::Const },
    OpInfo { name: "POP_JUMP_BACKWARD_IF_NOT_NONE", code: POP_JUMP_BACKWARD_IF_NOT_NONE, caches: 0, arg: ArgKind::JumpBackward },
    OpInfo { name: "POP_JUMP_BACKWARD_IF_NONE", code: POP_JUMP_BACKWARD_IF_NONE, caches: 0, arg: ArgKind::JumpBackward },
    OpInfo { name: "POP_JUMP_BACKWARD_IF_FALSE", code: POP_JUMP_BACKWARD_IF_FALSE, caches: 0, arg: ArgKind::JumpBackward },
    OpInfo { name: "POP_JUMP_BACKWARD_IF_TRUE", code: POP_JUMP_BACKWARD_IF_TRUE, caches: 0, arg: ArgKind::JumpBackward },
];
// END GENERATED (tools/gen_opcodes.py)

/// The opcodes splice's passes use, resolved at compile time.
pub(super) const KNOWN: Known = Known {
    cache: CACHE,
    extended_arg: EXTENDED_ARG,
    nop: NOP,
    resume: RESUME,
    resume_location_mask: 3,
    resume_depth1_mask: None,
    yield_value_arg_is_handler_depth: false,
    load_const: LOAD_CONST,
    load_fast: LOAD_FAST,
    store_fast: STORE_FAST,
    delete_fast: DELETE_FAST,
    make_cell: MAKE_CELL,
    load_global: LOAD_GLOBAL,
    store_global: STORE_GLOBAL,
    delete_global: DELETE_GLOBAL,
    load_name: LOAD_NAME,
    store_name: STORE_NAME,
    delete_name: DELETE_NAME,
    load_fast_check: None,
    load_fast_and_clear: None,
    load_fast_borrow: None,
    load_fast_load_fast: None,
    store_fast_load_fast: None,
    store_fast_store_fast: None,
    load_fast_borrow_load_fast_borrow: None,
    load_common_constant: None,
    common_constant_none: None,
    push_null: PUSH_NULL,
    pop_top: POP_TOP,
    copy: COPY,
    swap: SWAP,
    call: CALL,
    precall: Some(PRECALL),
    kw_names: Some(KW_NAMES),
    null_after_callable: false,
    return_value: RETURN_VALUE,
    return_const: None,
    reraise: RERAISE,
    jump_forward: JUMP_FORWARD,
    jump_backward: JUMP_BACKWARD,
    jump_backward_no_interrupt: JUMP_BACKWARD_NO_INTERRUPT,
    for_iter: FOR_ITER,
    end_for: None,
    pop_iter: None,
    end_send: None,
    end_async_for: END_ASYNC_FOR,
    not_taken: None,
    return_generator: RETURN_GENERATOR,
    yield_value: YIELD_VALUE,
    send: SEND,
    get_awaitable: GET_AWAITABLE,
};

/// Instruction pairs the interpreter assumes adjacent: it reads or skips
/// the second when it executes the first.
pub(super) static REQUIRED_SUCCESSORS: &[(u8, u8)] = &[(PRECALL, CALL), (YIELD_VALUE, RESUME)];

/// Jumps whose target must start with these instructions, because the
/// interpreter jumps past them.
pub(super) static REQUIRED_JUMP_TARGETS: &[(u8, &[u8])] = &[];

/// Opcodes after which control never reaches the next instruction.
pub(super) static TERMINAL: &[u8] = &[
    RETURN_VALUE,
    RAISE_VARARGS,
    RERAISE,
    JUMP_FORWARD,
    JUMP_BACKWARD,
    JUMP_BACKWARD_NO_INTERRUPT,
];

/// `dis.stack_effect(op, oparg, jump=jump)`; `None` where CPython raises.
///
/// Long on purpose: a table written as one `match` arm per opcode, the
/// shape of 3.11's `stack_effect()` in `Python/compile.c`.
pub(super) fn stack_effect(op: u8, oparg: i32, jump: Option<bool>) -> Option<i32> {
    // The C int: True 1, False 0, None -1.
    let jump_taken = jump != Some(false); // `jump ? .. : ..`
    let jump_positive = jump == Some(true); // `jump > 0 ? .. : ..`
    let effect = match op {
        NOP | EXTENDED_ARG | RESUME | CACHE => 0,

        POP_TOP => -1,
        SWAP => 0,

        UNARY_POSITIVE | UNARY_NEGATIVE | UNARY_NOT | UNARY_INVERT => 0,

        SET_ADD | LIST_APPEND => -1,
        MAP_ADD => -2,

        BINARY_SUBSCR => -1,
        STORE_SUBSCR => -3,
        DELETE_SUBSCR => -2,

        GET_ITER => 0,

        PRINT_EXPR => -1,
        LOAD_BUILD_CLASS => 1,

        RETURN_VALUE => -1,
        IMPORT_STAR => -1,
        SETUP_ANNOTATIONS => 0,
        ASYNC_GEN_WRAP | YIELD_VALUE => 0,
        POP_EXCEPT => -1,

        STORE_NAME => -1,
        DELETE_NAME => 0,
        UNPACK_SEQUENCE => oparg.wrapping_sub(1),
        UNPACK_EX => (oparg & 0xFF).wrapping_add(oparg >> 8),
        // -1 at the end of the iterator (the jump), 1 while iterating.
        FOR_ITER => {
            if jump_positive {
                -1
            } else {
                1
            }
        }
        SEND => {
            if jump_positive {
                -1
            } else {
                0
            }
        }
        STORE_ATTR => -2,
        DELETE_ATTR => -1,
        STORE_GLOBAL => -1,
        DELETE_GLOBAL => 0,
        LOAD_CONST => 1,
        LOAD_NAME => 1,
        BUILD_TUPLE | BUILD_LIST | BUILD_SET | BUILD_STRING => 1i32.wrapping_sub(oparg),
        BUILD_MAP => 1i32.wrapping_sub(oparg.wrapping_mul(2)),
        BUILD_CONST_KEY_MAP => oparg.wrapping_neg(),
        LOAD_ATTR => 0,
        COMPARE_OP | IS_OP | CONTAINS_OP => -1,
        CHECK_EXC_MATCH | CHECK_EG_MATCH => 0,
        IMPORT_NAME => -1,
        IMPORT_FROM => 1,

        JUMP_FORWARD | JUMP_BACKWARD | JUMP_BACKWARD_NO_INTERRUPT => 0,

        // The value stays when jumping, is popped when falling through.
        JUMP_IF_TRUE_OR_POP | JUMP_IF_FALSE_OR_POP => {
            if jump_taken {
                0
            } else {
                -1
            }
        }

        POP_JUMP_BACKWARD_IF_NONE
        | POP_JUMP_FORWARD_IF_NONE
        | POP_JUMP_BACKWARD_IF_NOT_NONE
        | POP_JUMP_FORWARD_IF_NOT_NONE
        | POP_JUMP_FORWARD_IF_FALSE
        | POP_JUMP_BACKWARD_IF_FALSE
        | POP_JUMP_FORWARD_IF_TRUE
        | POP_JUMP_BACKWARD_IF_TRUE => -1,

        LOAD_GLOBAL => (oparg & 1) + 1,

        PREP_RERAISE_STAR => -1,
        RERAISE => -1,
        PUSH_EXC_INFO => 1,
        WITH_EXCEPT_START => 1,

        LOAD_FAST => 1,
        STORE_FAST => -1,
        DELETE_FAST => 0,

        RETURN_GENERATOR => 0,

        RAISE_VARARGS => oparg.wrapping_neg(),

        PRECALL => oparg.wrapping_neg(),
        KW_NAMES => 0,
        CALL => -1,

        CALL_FUNCTION_EX => -2 - (oparg & 1),
        MAKE_FUNCTION => -((oparg & 0x0F).count_ones() as i32),
        BUILD_SLICE => {
            if oparg == 3 {
                -2
            } else {
                -1
            }
        }

        MAKE_CELL | COPY_FREE_VARS => 0,
        LOAD_CLOSURE => 1,
        LOAD_DEREF | LOAD_CLASSDEREF => 1,
        STORE_DEREF => -1,
        DELETE_DEREF => 0,

        GET_AWAITABLE => 0,
        BEFORE_ASYNC_WITH | BEFORE_WITH => 1,
        GET_AITER => 0,
        GET_ANEXT => 1,
        GET_YIELD_FROM_ITER => 0,
        END_ASYNC_FOR => -2,
        // FVS_HAVE_SPEC (4): a format spec is popped too.
        FORMAT_VALUE => {
            if oparg & 4 == 4 {
                -1
            } else {
                0
            }
        }
        LOAD_METHOD => 1,
        LOAD_ASSERTION_ERROR => 1,
        LIST_TO_TUPLE => 0,
        LIST_EXTEND | SET_UPDATE | DICT_MERGE | DICT_UPDATE => -1,
        MATCH_CLASS => -2,
        GET_LEN | MATCH_MAPPING | MATCH_SEQUENCE | MATCH_KEYS => 1,
        COPY | PUSH_NULL => 1,
        BINARY_OP => -1,
        _ => return None,
    };
    Some(effect)
}
