//! CPython 3.15 opcodes.
//!
//! The numbers, cache counts, operand kinds and `popped_pushed` (from this
//! version's own `Include/internal/pycore_opcode_metadata.h`) are generated
//! by `tools/gen_opcodes.py`; the rest is written by hand from
//! `Python/bytecodes.c`, `Python/flowgraph.c` and `Python/assemble.c` of
//! 3.15, and checked against the interpreter by `tests/opcode_tables.rs`.
//! `dis.stack_effect` ignores `jump` for real opcodes and accepts (and
//! ignores) an argument for opcodes that take none, as on 3.13.

use super::{ArgKind, Known, OpInfo};

// BEGIN GENERATED (tools/gen_opcodes.py)
// Data from CPython 3.15.2's `opcode` module; rerun the tool to refresh.

/// `opcode.HAVE_ARGUMENT`.
pub const HAVE_ARGUMENT: u8 = 41;

pub const CACHE: u8 = 0;
pub const BINARY_SLICE: u8 = 1;
pub const BUILD_TEMPLATE: u8 = 2;
pub const CALL_FUNCTION_EX: u8 = 4;
pub const CHECK_EG_MATCH: u8 = 5;
pub const CHECK_EXC_MATCH: u8 = 6;
pub const CLEANUP_THROW: u8 = 7;
pub const DELETE_SUBSCR: u8 = 8;
pub const END_FOR: u8 = 9;
pub const END_SEND: u8 = 10;
pub const EXIT_INIT_CHECK: u8 = 11;
pub const FORMAT_SIMPLE: u8 = 12;
pub const FORMAT_WITH_SPEC: u8 = 13;
pub const GET_AITER: u8 = 14;
pub const GET_ANEXT: u8 = 15;
pub const GET_LEN: u8 = 16;
pub const RESERVED: u8 = 17;
pub const INTERPRETER_EXIT: u8 = 18;
pub const LOAD_BUILD_CLASS: u8 = 19;
pub const LOAD_LOCALS: u8 = 20;
pub const MAKE_FUNCTION: u8 = 21;
pub const MATCH_KEYS: u8 = 22;
pub const MATCH_MAPPING: u8 = 23;
pub const MATCH_SEQUENCE: u8 = 24;
pub const NOP: u8 = 25;
pub const NOT_TAKEN: u8 = 26;
pub const POP_EXCEPT: u8 = 27;
pub const POP_ITER: u8 = 28;
pub const POP_TOP: u8 = 29;
pub const PUSH_EXC_INFO: u8 = 30;
pub const PUSH_NULL: u8 = 31;
pub const RETURN_GENERATOR: u8 = 32;
pub const RETURN_VALUE: u8 = 33;
pub const SETUP_ANNOTATIONS: u8 = 34;
pub const STORE_SLICE: u8 = 35;
pub const STORE_SUBSCR: u8 = 36;
pub const TO_BOOL: u8 = 37;
pub const UNARY_INVERT: u8 = 38;
pub const UNARY_NEGATIVE: u8 = 39;
pub const UNARY_NOT: u8 = 40;
pub const WITH_EXCEPT_START: u8 = 41;
pub const BINARY_OP: u8 = 42;
pub const BUILD_INTERPOLATION: u8 = 43;
pub const BUILD_LIST: u8 = 44;
pub const BUILD_MAP: u8 = 45;
pub const BUILD_SET: u8 = 46;
pub const BUILD_SLICE: u8 = 47;
pub const BUILD_STRING: u8 = 48;
pub const BUILD_TUPLE: u8 = 49;
pub const CALL: u8 = 50;
pub const CALL_INTRINSIC_1: u8 = 51;
pub const CALL_INTRINSIC_2: u8 = 52;
pub const CALL_KW: u8 = 53;
pub const COMPARE_OP: u8 = 54;
pub const CONTAINS_OP: u8 = 55;
pub const CONVERT_VALUE: u8 = 56;
pub const COPY: u8 = 57;
pub const COPY_FREE_VARS: u8 = 58;
pub const DELETE_ATTR: u8 = 59;
pub const DELETE_DEREF: u8 = 60;
pub const DELETE_FAST: u8 = 61;
pub const DELETE_GLOBAL: u8 = 62;
pub const DELETE_NAME: u8 = 63;
pub const DICT_MERGE: u8 = 64;
pub const DICT_UPDATE: u8 = 65;
pub const END_ASYNC_FOR: u8 = 66;
pub const EXTENDED_ARG: u8 = 67;
pub const FOR_ITER: u8 = 68;
pub const GET_AWAITABLE: u8 = 69;
pub const GET_ITER: u8 = 70;
pub const IMPORT_FROM: u8 = 71;
pub const IMPORT_NAME: u8 = 72;
pub const IS_OP: u8 = 73;
pub const JUMP_BACKWARD: u8 = 74;
pub const JUMP_BACKWARD_NO_INTERRUPT: u8 = 75;
pub const JUMP_FORWARD: u8 = 76;
pub const LIST_APPEND: u8 = 77;
pub const LIST_EXTEND: u8 = 78;
pub const LOAD_ATTR: u8 = 79;
pub const LOAD_COMMON_CONSTANT: u8 = 80;
pub const LOAD_CONST: u8 = 81;
pub const LOAD_DEREF: u8 = 82;
pub const LOAD_FAST: u8 = 83;
pub const LOAD_FAST_AND_CLEAR: u8 = 84;
pub const LOAD_FAST_BORROW: u8 = 85;
pub const LOAD_FAST_BORROW_LOAD_FAST_BORROW: u8 = 86;
pub const LOAD_FAST_CHECK: u8 = 87;
pub const LOAD_FAST_LOAD_FAST: u8 = 88;
pub const LOAD_FROM_DICT_OR_DEREF: u8 = 89;
pub const LOAD_FROM_DICT_OR_GLOBALS: u8 = 90;
pub const LOAD_GLOBAL: u8 = 91;
pub const LOAD_NAME: u8 = 92;
pub const LOAD_SMALL_INT: u8 = 93;
pub const LOAD_SPECIAL: u8 = 94;
pub const LOAD_SUPER_ATTR: u8 = 95;
pub const MAKE_CELL: u8 = 96;
pub const MAP_ADD: u8 = 97;
pub const MATCH_CLASS: u8 = 98;
pub const POP_JUMP_IF_FALSE: u8 = 99;
pub const POP_JUMP_IF_NONE: u8 = 100;
pub const POP_JUMP_IF_NOT_NONE: u8 = 101;
pub const POP_JUMP_IF_TRUE: u8 = 102;
pub const RAISE_VARARGS: u8 = 103;
pub const RERAISE: u8 = 104;
pub const SEND: u8 = 105;
pub const SET_ADD: u8 = 106;
pub const SET_FUNCTION_ATTRIBUTE: u8 = 107;
pub const SET_UPDATE: u8 = 108;
pub const STORE_ATTR: u8 = 109;
pub const STORE_DEREF: u8 = 110;
pub const STORE_FAST: u8 = 111;
pub const STORE_FAST_LOAD_FAST: u8 = 112;
pub const STORE_FAST_STORE_FAST: u8 = 113;
pub const STORE_GLOBAL: u8 = 114;
pub const STORE_NAME: u8 = 115;
pub const SWAP: u8 = 116;
pub const UNPACK_EX: u8 = 117;
pub const UNPACK_SEQUENCE: u8 = 118;
pub const YIELD_VALUE: u8 = 119;
pub const RESUME: u8 = 128;
pub const INSTRUMENTED_END_FOR: u8 = 233;
pub const INSTRUMENTED_POP_ITER: u8 = 234;
pub const INSTRUMENTED_END_SEND: u8 = 235;
pub const INSTRUMENTED_FOR_ITER: u8 = 236;
pub const INSTRUMENTED_INSTRUCTION: u8 = 237;
pub const INSTRUMENTED_JUMP_FORWARD: u8 = 238;
pub const INSTRUMENTED_NOT_TAKEN: u8 = 239;
pub const INSTRUMENTED_POP_JUMP_IF_TRUE: u8 = 240;
pub const INSTRUMENTED_POP_JUMP_IF_FALSE: u8 = 241;
pub const INSTRUMENTED_POP_JUMP_IF_NONE: u8 = 242;
pub const INSTRUMENTED_POP_JUMP_IF_NOT_NONE: u8 = 243;
pub const INSTRUMENTED_RESUME: u8 = 244;
pub const INSTRUMENTED_RETURN_VALUE: u8 = 245;
pub const INSTRUMENTED_YIELD_VALUE: u8 = 246;
pub const INSTRUMENTED_END_ASYNC_FOR: u8 = 247;
pub const INSTRUMENTED_LOAD_SUPER_ATTR: u8 = 248;
pub const INSTRUMENTED_CALL: u8 = 249;
pub const INSTRUMENTED_CALL_KW: u8 = 250;
pub const INSTRUMENTED_CALL_FUNCTION_EX: u8 = 251;
pub const INSTRUMENTED_JUMP_BACKWARD: u8 = 252;
pub const INSTRUMENTED_LINE: u8 = 253;
pub const ENTER_EXECUTOR: u8 = 254;
pub const TRACE_RECORD: u8 = 255;

/// Every opcode of `opcode.opmap` below 256, by number.
#[rustfmt::skip]
pub static OPS: &[OpInfo] = &[
    OpInfo { name: "CACHE", code: CACHE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "BINARY_SLICE", code: BINARY_SLICE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "BUILD_TEMPLATE", code: BUILD_TEMPLATE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "CALL_FUNCTION_EX", code: CALL_FUNCTION_EX, caches: 1, arg: ArgKind::None },
    OpInfo { name: "CHECK_EG_MATCH", code: CHECK_EG_MATCH, caches: 0, arg: ArgKind::None },
    OpInfo { name: "CHECK_EXC_MATCH", code: CHECK_EXC_MATCH, caches: 0, arg: ArgKind::None },
    OpInfo { name: "CLEANUP_THROW", code: CLEANUP_THROW, caches: 0, arg: ArgKind::None },
    OpInfo { name: "DELETE_SUBSCR", code: DELETE_SUBSCR, caches: 0, arg: ArgKind::None },
    OpInfo { name: "END_FOR", code: END_FOR, caches: 0, arg: ArgKind::None },
    OpInfo { name: "END_SEND", code: END_SEND, caches: 0, arg: ArgKind::None },
    OpInfo { name: "EXIT_INIT_CHECK", code: EXIT_INIT_CHECK, caches: 0, arg: ArgKind::None },
    OpInfo { name: "FORMAT_SIMPLE", code: FORMAT_SIMPLE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "FORMAT_WITH_SPEC", code: FORMAT_WITH_SPEC, caches: 0, arg: ArgKind::None },
    OpInfo { name: "GET_AITER", code: GET_AITER, caches: 0, arg: ArgKind::None },
    OpInfo { name: "GET_ANEXT", code: GET_ANEXT, caches: 0, arg: ArgKind::None },
    OpInfo { name: "GET_LEN", code: GET_LEN, caches: 0, arg: ArgKind::None },
    OpInfo { name: "RESERVED", code: RESERVED, caches: 0, arg: ArgKind::None },
    OpInfo { name: "INTERPRETER_EXIT", code: INTERPRETER_EXIT, caches: 0, arg: ArgKind::None },
    OpInfo { name: "LOAD_BUILD_CLASS", code: LOAD_BUILD_CLASS, caches: 0, arg: ArgKind::None },
    OpInfo { name: "LOAD_LOCALS", code: LOAD_LOCALS, caches: 0, arg: ArgKind::None },
    OpInfo { name: "MAKE_FUNCTION", code: MAKE_FUNCTION, caches: 0, arg: ArgKind::None },
    OpInfo { name: "MATCH_KEYS", code: MATCH_KEYS, caches: 0, arg: ArgKind::None },
    OpInfo { name: "MATCH_MAPPING", code: MATCH_MAPPING, caches: 0, arg: ArgKind::None },
    OpInfo { name: "MATCH_SEQUENCE", code: MATCH_SEQUENCE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "NOP", code: NOP, caches: 0, arg: ArgKind::None },
    OpInfo { name: "NOT_TAKEN", code: NOT_TAKEN, caches: 0, arg: ArgKind::None },
    OpInfo { name: "POP_EXCEPT", code: POP_EXCEPT, caches: 0, arg: ArgKind::None },
    OpInfo { name: "POP_ITER", code: POP_ITER, caches: 0, arg: ArgKind::None },
    OpInfo { name: "POP_TOP", code: POP_TOP, caches: 0, arg: ArgKind::None },
    OpInfo { name: "PUSH_EXC_INFO", code: PUSH_EXC_INFO, caches: 0, arg: ArgKind::None },
    OpInfo { name: "PUSH_NULL", code: PUSH_NULL, caches: 0, arg: ArgKind::None },
    OpInfo { name: "RETURN_GENERATOR", code: RETURN_GENERATOR, caches: 0, arg: ArgKind::None },
    OpInfo { name: "RETURN_VALUE", code: RETURN_VALUE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "SETUP_ANNOTATIONS", code: SETUP_ANNOTATIONS, caches: 0, arg: ArgKind::None },
    OpInfo { name: "STORE_SLICE", code: STORE_SLICE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "STORE_SUBSCR", code: STORE_SUBSCR, caches: 1, arg: ArgKind::None },
    OpInfo { name: "TO_BOOL", code: TO_BOOL, caches: 3, arg: ArgKind::None },
    OpInfo { name: "UNARY_INVERT", code: UNARY_INVERT, caches: 0, arg: ArgKind::None },
    OpInfo { name: "UNARY_NEGATIVE", code: UNARY_NEGATIVE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "UNARY_NOT", code: UNARY_NOT, caches: 0, arg: ArgKind::None },
    OpInfo { name: "WITH_EXCEPT_START", code: WITH_EXCEPT_START, caches: 0, arg: ArgKind::None },
    OpInfo { name: "BINARY_OP", code: BINARY_OP, caches: 5, arg: ArgKind::Plain },
    OpInfo { name: "BUILD_INTERPOLATION", code: BUILD_INTERPOLATION, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "BUILD_LIST", code: BUILD_LIST, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "BUILD_MAP", code: BUILD_MAP, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "BUILD_SET", code: BUILD_SET, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "BUILD_SLICE", code: BUILD_SLICE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "BUILD_STRING", code: BUILD_STRING, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "BUILD_TUPLE", code: BUILD_TUPLE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "CALL", code: CALL, caches: 3, arg: ArgKind::Plain },
    OpInfo { name: "CALL_INTRINSIC_1", code: CALL_INTRINSIC_1, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "CALL_INTRINSIC_2", code: CALL_INTRINSIC_2, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "CALL_KW", code: CALL_KW, caches: 3, arg: ArgKind::Plain },
    OpInfo { name: "COMPARE_OP", code: COMPARE_OP, caches: 1, arg: ArgKind::Compare },
    OpInfo { name: "CONTAINS_OP", code: CONTAINS_OP, caches: 1, arg: ArgKind::Plain },
    OpInfo { name: "CONVERT_VALUE", code: CONVERT_VALUE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "COPY", code: COPY, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "COPY_FREE_VARS", code: COPY_FREE_VARS, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "DELETE_ATTR", code: DELETE_ATTR, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "DELETE_DEREF", code: DELETE_DEREF, caches: 0, arg: ArgKind::Free },
    OpInfo { name: "DELETE_FAST", code: DELETE_FAST, caches: 0, arg: ArgKind::Local },
    OpInfo { name: "DELETE_GLOBAL", code: DELETE_GLOBAL, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "DELETE_NAME", code: DELETE_NAME, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "DICT_MERGE", code: DICT_MERGE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "DICT_UPDATE", code: DICT_UPDATE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "END_ASYNC_FOR", code: END_ASYNC_FOR, caches: 0, arg: ArgKind::JumpBackward },
    OpInfo { name: "EXTENDED_ARG", code: EXTENDED_ARG, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "FOR_ITER", code: FOR_ITER, caches: 1, arg: ArgKind::JumpForward },
    OpInfo { name: "GET_AWAITABLE", code: GET_AWAITABLE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "GET_ITER", code: GET_ITER, caches: 1, arg: ArgKind::Plain },
    OpInfo { name: "IMPORT_FROM", code: IMPORT_FROM, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "IMPORT_NAME", code: IMPORT_NAME, caches: 0, arg: ArgKind::Name { shift: 2 } },
    OpInfo { name: "IS_OP", code: IS_OP, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "JUMP_BACKWARD", code: JUMP_BACKWARD, caches: 1, arg: ArgKind::JumpBackward },
    OpInfo { name: "JUMP_BACKWARD_NO_INTERRUPT", code: JUMP_BACKWARD_NO_INTERRUPT, caches: 0, arg: ArgKind::JumpBackward },
    OpInfo { name: "JUMP_FORWARD", code: JUMP_FORWARD, caches: 0, arg: ArgKind::JumpForward },
    OpInfo { name: "LIST_APPEND", code: LIST_APPEND, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "LIST_EXTEND", code: LIST_EXTEND, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "LOAD_ATTR", code: LOAD_ATTR, caches: 9, arg: ArgKind::Name { shift: 1 } },
    OpInfo { name: "LOAD_COMMON_CONSTANT", code: LOAD_COMMON_CONSTANT, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "LOAD_CONST", code: LOAD_CONST, caches: 0, arg: ArgKind::Const },
    OpInfo { name: "LOAD_DEREF", code: LOAD_DEREF, caches: 0, arg: ArgKind::Free },
    OpInfo { name: "LOAD_FAST", code: LOAD_FAST, caches: 0, arg: ArgKind::Local },
    OpInfo { name: "LOAD_FAST_AND_CLEAR", code: LOAD_FAST_AND_CLEAR, caches: 0, arg: ArgKind::Local },
    OpInfo { name: "LOAD_FAST_BORROW", code: LOAD_FAST_BORROW, caches: 0, arg: ArgKind::Local },
    OpInfo { name: "LOAD_FAST_BORROW_LOAD_FAST_BORROW", code: LOAD_FAST_BORROW_LOAD_FAST_BORROW, caches: 0, arg: ArgKind::LocalPair },
    OpInfo { name: "LOAD_FAST_CHECK", code: LOAD_FAST_CHECK, caches: 0, arg: ArgKind::Local },
    OpInfo { name: "LOAD_FAST_LOAD_FAST", code: LOAD_FAST_LOAD_FAST, caches: 0, arg: ArgKind::LocalPair },
    OpInfo { name: "LOAD_FROM_DICT_OR_DEREF", code: LOAD_FROM_DICT_OR_DEREF, caches: 0, arg: ArgKind::Free },
    OpInfo { name: "LOAD_FROM_DICT_OR_GLOBALS", code: LOAD_FROM_DICT_OR_GLOBALS, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "LOAD_GLOBAL", code: LOAD_GLOBAL, caches: 4, arg: ArgKind::Name { shift: 1 } },
    OpInfo { name: "LOAD_NAME", code: LOAD_NAME, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "LOAD_SMALL_INT", code: LOAD_SMALL_INT, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "LOAD_SPECIAL", code: LOAD_SPECIAL, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "LOAD_SUPER_ATTR", code: LOAD_SUPER_ATTR, caches: 1, arg: ArgKind::Name { shift: 2 } },
    OpInfo { name: "MAKE_CELL", code: MAKE_CELL, caches: 0, arg: ArgKind::Free },
    OpInfo { name: "MAP_ADD", code: MAP_ADD, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "MATCH_CLASS", code: MATCH_CLASS, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "POP_JUMP_IF_FALSE", code: POP_JUMP_IF_FALSE, caches: 1, arg: ArgKind::JumpForward },
    OpInfo { name: "POP_JUMP_IF_NONE", code: POP_JUMP_IF_NONE, caches: 1, arg: ArgKind::JumpForward },
    OpInfo { name: "POP_JUMP_IF_NOT_NONE", code: POP_JUMP_IF_NOT_NONE, caches: 1, arg: ArgKind::JumpForward },
    OpInfo { name: "POP_JUMP_IF_TRUE", code: POP_JUMP_IF_TRUE, caches: 1, arg: ArgKind::JumpForward },
    OpInfo { name: "RAISE_VARARGS", code: RAISE_VARARGS, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "RERAISE", code: RERAISE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "SEND", code: SEND, caches: 1, arg: ArgKind::JumpForward },
    OpInfo { name: "SET_ADD", code: SET_ADD, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "SET_FUNCTION_ATTRIBUTE", code: SET_FUNCTION_ATTRIBUTE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "SET_UPDATE", code: SET_UPDATE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "STORE_ATTR", code: STORE_ATTR, caches: 4, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "STORE_DEREF", code: STORE_DEREF, caches: 0, arg: ArgKind::Free },
    OpInfo { name: "STORE_FAST", code: STORE_FAST, caches: 0, arg: ArgKind::Local },
    OpInfo { name: "STORE_FAST_LOAD_FAST", code: STORE_FAST_LOAD_FAST, caches: 0, arg: ArgKind::LocalPair },
    OpInfo { name: "STORE_FAST_STORE_FAST", code: STORE_FAST_STORE_FAST, caches: 0, arg: ArgKind::LocalPair },
    OpInfo { name: "STORE_GLOBAL", code: STORE_GLOBAL, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "STORE_NAME", code: STORE_NAME, caches: 0, arg: ArgKind::Name { shift: 0 } },
    OpInfo { name: "SWAP", code: SWAP, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "UNPACK_EX", code: UNPACK_EX, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "UNPACK_SEQUENCE", code: UNPACK_SEQUENCE, caches: 1, arg: ArgKind::Plain },
    OpInfo { name: "YIELD_VALUE", code: YIELD_VALUE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "RESUME", code: RESUME, caches: 1, arg: ArgKind::Plain },
    OpInfo { name: "INSTRUMENTED_END_FOR", code: INSTRUMENTED_END_FOR, caches: 0, arg: ArgKind::None },
    OpInfo { name: "INSTRUMENTED_POP_ITER", code: INSTRUMENTED_POP_ITER, caches: 0, arg: ArgKind::None },
    OpInfo { name: "INSTRUMENTED_END_SEND", code: INSTRUMENTED_END_SEND, caches: 0, arg: ArgKind::None },
    OpInfo { name: "INSTRUMENTED_FOR_ITER", code: INSTRUMENTED_FOR_ITER, caches: 0, arg: ArgKind::JumpForward },
    OpInfo { name: "INSTRUMENTED_INSTRUCTION", code: INSTRUMENTED_INSTRUCTION, caches: 0, arg: ArgKind::None },
    OpInfo { name: "INSTRUMENTED_JUMP_FORWARD", code: INSTRUMENTED_JUMP_FORWARD, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "INSTRUMENTED_NOT_TAKEN", code: INSTRUMENTED_NOT_TAKEN, caches: 0, arg: ArgKind::None },
    OpInfo { name: "INSTRUMENTED_POP_JUMP_IF_TRUE", code: INSTRUMENTED_POP_JUMP_IF_TRUE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "INSTRUMENTED_POP_JUMP_IF_FALSE", code: INSTRUMENTED_POP_JUMP_IF_FALSE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "INSTRUMENTED_POP_JUMP_IF_NONE", code: INSTRUMENTED_POP_JUMP_IF_NONE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "INSTRUMENTED_POP_JUMP_IF_NOT_NONE", code: INSTRUMENTED_POP_JUMP_IF_NOT_NONE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "INSTRUMENTED_RESUME", code: INSTRUMENTED_RESUME, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "INSTRUMENTED_RETURN_VALUE", code: INSTRUMENTED_RETURN_VALUE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "INSTRUMENTED_YIELD_VALUE", code: INSTRUMENTED_YIELD_VALUE, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "INSTRUMENTED_END_ASYNC_FOR", code: INSTRUMENTED_END_ASYNC_FOR, caches: 0, arg: ArgKind::JumpBackward },
    OpInfo { name: "INSTRUMENTED_LOAD_SUPER_ATTR", code: INSTRUMENTED_LOAD_SUPER_ATTR, caches: 0, arg: ArgKind::Name { shift: 2 } },
    OpInfo { name: "INSTRUMENTED_CALL", code: INSTRUMENTED_CALL, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "INSTRUMENTED_CALL_KW", code: INSTRUMENTED_CALL_KW, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "INSTRUMENTED_CALL_FUNCTION_EX", code: INSTRUMENTED_CALL_FUNCTION_EX, caches: 0, arg: ArgKind::None },
    OpInfo { name: "INSTRUMENTED_JUMP_BACKWARD", code: INSTRUMENTED_JUMP_BACKWARD, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "INSTRUMENTED_LINE", code: INSTRUMENTED_LINE, caches: 0, arg: ArgKind::None },
    OpInfo { name: "ENTER_EXECUTOR", code: ENTER_EXECUTOR, caches: 0, arg: ArgKind::Plain },
    OpInfo { name: "TRACE_RECORD", code: TRACE_RECORD, caches: 0, arg: ArgKind::Plain },
];

/// `LOAD_COMMON_CONSTANT`'s table (`opcode._common_constants`), as text.
#[rustfmt::skip]
pub const COMMON_CONSTANTS: &[&str] = &["AssertionError", "NotImplementedError", "tuple", "all", "any", "list", "set", "None", "''", "True", "False", "-1"];

/// `(popped, pushed)`: `_PyOpcode_num_popped` / `_PyOpcode_num_pushed` of
/// this version's `pycore_opcode_metadata.h`, in C `int` arithmetic.
/// Long on purpose: generated, one `match` arm per group of opcodes.
#[rustfmt::skip]
pub(super) fn popped_pushed(op: u8, oparg: i32) -> Option<(i32, i32)> {
    let popped = match op {
        BINARY_OP | BUILD_TEMPLATE | CALL_INTRINSIC_2 | CHECK_EG_MATCH | CHECK_EXC_MATCH | COMPARE_OP | CONTAINS_OP | DELETE_SUBSCR | END_ASYNC_FOR | FORMAT_WITH_SPEC | FOR_ITER | IMPORT_NAME | INSTRUMENTED_END_ASYNC_FOR | INSTRUMENTED_FOR_ITER | INSTRUMENTED_POP_ITER | IS_OP | MATCH_KEYS | POP_ITER | SET_FUNCTION_ATTRIBUTE | STORE_ATTR | STORE_FAST_STORE_FAST => 2i32,
        BINARY_SLICE | END_SEND | INSTRUMENTED_END_FOR | INSTRUMENTED_END_SEND | INSTRUMENTED_LOAD_SUPER_ATTR | LOAD_SUPER_ATTR | MATCH_CLASS | SEND | STORE_SUBSCR => 3i32,
        BUILD_INTERPOLATION => 2i32.wrapping_add(oparg & 1i32),
        BUILD_LIST | BUILD_SET | BUILD_SLICE | BUILD_STRING | BUILD_TUPLE | RAISE_VARARGS => oparg,
        BUILD_MAP => oparg.wrapping_mul(2i32),
        CACHE | COPY_FREE_VARS | DELETE_DEREF | DELETE_FAST | DELETE_GLOBAL | DELETE_NAME | ENTER_EXECUTOR | EXTENDED_ARG | INSTRUMENTED_INSTRUCTION | INSTRUMENTED_JUMP_BACKWARD | INSTRUMENTED_JUMP_FORWARD | INSTRUMENTED_LINE | INSTRUMENTED_NOT_TAKEN | INSTRUMENTED_RESUME | JUMP_BACKWARD | JUMP_BACKWARD_NO_INTERRUPT | JUMP_FORWARD | LOAD_BUILD_CLASS | LOAD_COMMON_CONSTANT | LOAD_CONST | LOAD_DEREF | LOAD_FAST | LOAD_FAST_AND_CLEAR | LOAD_FAST_BORROW | LOAD_FAST_BORROW_LOAD_FAST_BORROW | LOAD_FAST_CHECK | LOAD_FAST_LOAD_FAST | LOAD_GLOBAL | LOAD_LOCALS | LOAD_NAME | LOAD_SMALL_INT | MAKE_CELL | NOP | NOT_TAKEN | PUSH_NULL | RESERVED | RESUME | RETURN_GENERATOR | SETUP_ANNOTATIONS | TRACE_RECORD => 0i32,
        CALL | INSTRUMENTED_CALL => 2i32.wrapping_add(oparg),
        CALL_FUNCTION_EX | CLEANUP_THROW | INSTRUMENTED_CALL_FUNCTION_EX | STORE_SLICE => 4i32,
        CALL_INTRINSIC_1 | CONVERT_VALUE | DELETE_ATTR | END_FOR | EXIT_INIT_CHECK | FORMAT_SIMPLE | GET_AITER | GET_ANEXT | GET_AWAITABLE | GET_ITER | GET_LEN | IMPORT_FROM | INSTRUMENTED_POP_JUMP_IF_FALSE | INSTRUMENTED_POP_JUMP_IF_NONE | INSTRUMENTED_POP_JUMP_IF_NOT_NONE | INSTRUMENTED_POP_JUMP_IF_TRUE | INSTRUMENTED_RETURN_VALUE | INSTRUMENTED_YIELD_VALUE | INTERPRETER_EXIT | LOAD_ATTR | LOAD_FROM_DICT_OR_DEREF | LOAD_FROM_DICT_OR_GLOBALS | LOAD_SPECIAL | MAKE_FUNCTION | MATCH_MAPPING | MATCH_SEQUENCE | POP_EXCEPT | POP_JUMP_IF_FALSE | POP_JUMP_IF_NONE | POP_JUMP_IF_NOT_NONE | POP_JUMP_IF_TRUE | POP_TOP | PUSH_EXC_INFO | RETURN_VALUE | STORE_DEREF | STORE_FAST | STORE_FAST_LOAD_FAST | STORE_GLOBAL | STORE_NAME | TO_BOOL | UNARY_INVERT | UNARY_NEGATIVE | UNARY_NOT | UNPACK_EX | UNPACK_SEQUENCE | YIELD_VALUE => 1i32,
        CALL_KW | INSTRUMENTED_CALL_KW => 3i32.wrapping_add(oparg),
        COPY => 1i32.wrapping_add(oparg.wrapping_sub(1i32)),
        DICT_MERGE => 5i32.wrapping_add(oparg.wrapping_sub(1i32)),
        DICT_UPDATE | LIST_APPEND | LIST_EXTEND | SET_ADD | SET_UPDATE => 2i32.wrapping_add(oparg.wrapping_sub(1i32)),
        MAP_ADD => 3i32.wrapping_add(oparg.wrapping_sub(1i32)),
        RERAISE => 1i32.wrapping_add(oparg),
        SWAP => 2i32.wrapping_add(oparg.wrapping_sub(2i32)),
        WITH_EXCEPT_START => 5i32,
        _ => -1i32,
    };
    let pushed = match op {
        BINARY_OP | BINARY_SLICE | BUILD_INTERPOLATION | BUILD_LIST | BUILD_MAP | BUILD_SET | BUILD_SLICE | BUILD_STRING | BUILD_TEMPLATE | BUILD_TUPLE | CALL | CALL_FUNCTION_EX | CALL_INTRINSIC_1 | CALL_INTRINSIC_2 | CALL_KW | COMPARE_OP | CONTAINS_OP | CONVERT_VALUE | END_SEND | FORMAT_SIMPLE | FORMAT_WITH_SPEC | GET_AITER | GET_AWAITABLE | IMPORT_NAME | INSTRUMENTED_CALL | INSTRUMENTED_CALL_FUNCTION_EX | INSTRUMENTED_CALL_KW | INSTRUMENTED_END_SEND | INSTRUMENTED_RETURN_VALUE | INSTRUMENTED_YIELD_VALUE | IS_OP | LOAD_BUILD_CLASS | LOAD_COMMON_CONSTANT | LOAD_CONST | LOAD_DEREF | LOAD_FAST | LOAD_FAST_AND_CLEAR | LOAD_FAST_BORROW | LOAD_FAST_CHECK | LOAD_FROM_DICT_OR_DEREF | LOAD_FROM_DICT_OR_GLOBALS | LOAD_LOCALS | LOAD_NAME | LOAD_SMALL_INT | MAKE_FUNCTION | MATCH_CLASS | PUSH_NULL | RETURN_GENERATOR | RETURN_VALUE | SET_FUNCTION_ATTRIBUTE | STORE_FAST_LOAD_FAST | TO_BOOL | UNARY_INVERT | UNARY_NEGATIVE | UNARY_NOT | YIELD_VALUE => 1i32,
        CACHE | COPY_FREE_VARS | DELETE_ATTR | DELETE_DEREF | DELETE_FAST | DELETE_GLOBAL | DELETE_NAME | DELETE_SUBSCR | END_ASYNC_FOR | END_FOR | ENTER_EXECUTOR | EXIT_INIT_CHECK | EXTENDED_ARG | INSTRUMENTED_END_ASYNC_FOR | INSTRUMENTED_INSTRUCTION | INSTRUMENTED_JUMP_BACKWARD | INSTRUMENTED_JUMP_FORWARD | INSTRUMENTED_LINE | INSTRUMENTED_NOT_TAKEN | INSTRUMENTED_POP_ITER | INSTRUMENTED_POP_JUMP_IF_FALSE | INSTRUMENTED_POP_JUMP_IF_NONE | INSTRUMENTED_POP_JUMP_IF_NOT_NONE | INSTRUMENTED_POP_JUMP_IF_TRUE | INSTRUMENTED_RESUME | INTERPRETER_EXIT | JUMP_BACKWARD | JUMP_BACKWARD_NO_INTERRUPT | JUMP_FORWARD | MAKE_CELL | NOP | NOT_TAKEN | POP_EXCEPT | POP_ITER | POP_JUMP_IF_FALSE | POP_JUMP_IF_NONE | POP_JUMP_IF_NOT_NONE | POP_JUMP_IF_TRUE | POP_TOP | RAISE_VARARGS | RESERVED | RESUME | SETUP_ANNOTATIONS | STORE_ATTR | STORE_DEREF | STORE_FAST | STORE_FAST_STORE_FAST | STORE_GLOBAL | STORE_NAME | STORE_SLICE | STORE_SUBSCR | TRACE_RECORD => 0i32,
        CHECK_EG_MATCH | CHECK_EXC_MATCH | GET_ANEXT | GET_ITER | GET_LEN | IMPORT_FROM | INSTRUMENTED_END_FOR | LOAD_FAST_BORROW_LOAD_FAST_BORROW | LOAD_FAST_LOAD_FAST | LOAD_SPECIAL | MATCH_MAPPING | MATCH_SEQUENCE | PUSH_EXC_INFO => 2i32,
        CLEANUP_THROW | FOR_ITER | INSTRUMENTED_FOR_ITER | MATCH_KEYS | SEND => 3i32,
        COPY => 2i32.wrapping_add(oparg.wrapping_sub(1i32)),
        DICT_MERGE => 4i32.wrapping_add(oparg.wrapping_sub(1i32)),
        DICT_UPDATE | LIST_APPEND | LIST_EXTEND | MAP_ADD | SET_ADD | SET_UPDATE => 1i32.wrapping_add(oparg.wrapping_sub(1i32)),
        INSTRUMENTED_LOAD_SUPER_ATTR | LOAD_ATTR | LOAD_GLOBAL | LOAD_SUPER_ATTR => 1i32.wrapping_add(oparg & 1i32),
        RERAISE | UNPACK_SEQUENCE => oparg,
        SWAP => 2i32.wrapping_add(oparg.wrapping_sub(2i32)),
        UNPACK_EX => 1i32.wrapping_add(oparg & 255i32).wrapping_add(oparg >> 8i32),
        WITH_EXCEPT_START => 6i32,
        _ => -1i32,
    };
    Some((popped, pushed))
}

/// Opcodes with no error path and no eval breaker in this version's
/// `_PyOpcode_opcode_metadata` flags: they never raise.
#[rustfmt::skip]
pub(super) static CANNOT_RAISE: &[u8] = &[
    CACHE, COPY, COPY_FREE_VARS, END_FOR, END_SEND, ENTER_EXECUTOR,
    EXTENDED_ARG, INSTRUMENTED_JUMP_FORWARD, INSTRUMENTED_LINE, INSTRUMENTED_NOT_TAKEN, INSTRUMENTED_POP_ITER, INSTRUMENTED_POP_JUMP_IF_FALSE,
    INSTRUMENTED_POP_JUMP_IF_NONE, INSTRUMENTED_POP_JUMP_IF_NOT_NONE, INSTRUMENTED_POP_JUMP_IF_TRUE, INTERPRETER_EXIT, IS_OP, JUMP_BACKWARD_NO_INTERRUPT,
    JUMP_FORWARD, LOAD_COMMON_CONSTANT, LOAD_CONST, LOAD_FAST, LOAD_FAST_AND_CLEAR, LOAD_FAST_BORROW,
    LOAD_FAST_BORROW_LOAD_FAST_BORROW, LOAD_FAST_LOAD_FAST, LOAD_SMALL_INT, MATCH_MAPPING, MATCH_SEQUENCE, NOP,
    NOT_TAKEN, POP_EXCEPT, POP_ITER, POP_JUMP_IF_FALSE, POP_JUMP_IF_NONE, POP_JUMP_IF_NOT_NONE,
    POP_JUMP_IF_TRUE, POP_TOP, PUSH_EXC_INFO, PUSH_NULL, RESERVED, RETURN_VALUE,
    SET_FUNCTION_ATTRIBUTE, STORE_DEREF, STORE_FAST, STORE_FAST_LOAD_FAST, STORE_FAST_STORE_FAST, SWAP,
    UNARY_NOT, YIELD_VALUE,
];
// END GENERATED (tools/gen_opcodes.py)

/// The opcodes splice's passes use, resolved at compile time.
pub(super) const KNOWN: Known = Known {
    cache: CACHE,
    extended_arg: EXTENDED_ARG,
    nop: NOP,
    resume: RESUME,
    resume_location_mask: 7,
    resume_depth1_mask: Some(8),
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
    load_fast_check: Some(LOAD_FAST_CHECK),
    load_fast_and_clear: Some(LOAD_FAST_AND_CLEAR),
    load_fast_borrow: Some(LOAD_FAST_BORROW),
    load_fast_load_fast: Some(LOAD_FAST_LOAD_FAST),
    store_fast_load_fast: Some(STORE_FAST_LOAD_FAST),
    store_fast_store_fast: Some(STORE_FAST_STORE_FAST),
    load_fast_borrow_load_fast_borrow: Some(LOAD_FAST_BORROW_LOAD_FAST_BORROW),
    load_common_constant: Some(LOAD_COMMON_CONSTANT),
    common_constant_none: Some(7),
    push_null: PUSH_NULL,
    pop_top: POP_TOP,
    copy: COPY,
    swap: SWAP,
    call: CALL,
    precall: None,
    kw_names: None,
    null_after_callable: true,
    return_value: RETURN_VALUE,
    return_const: None,
    reraise: RERAISE,
    jump_forward: JUMP_FORWARD,
    jump_backward: JUMP_BACKWARD,
    jump_backward_no_interrupt: JUMP_BACKWARD_NO_INTERRUPT,
    for_iter: FOR_ITER,
    end_for: Some(END_FOR),
    pop_iter: Some(POP_ITER),
    end_send: Some(END_SEND),
    end_async_for: END_ASYNC_FOR,
    not_taken: Some(NOT_TAKEN),
    return_generator: RETURN_GENERATOR,
    yield_value: YIELD_VALUE,
    send: SEND,
    get_awaitable: GET_AWAITABLE,
};

/// Instruction pairs the interpreter assumes adjacent: it reads or skips
/// the second when it executes the first.
pub(super) static REQUIRED_SUCCESSORS: &[(u8, u8)] = &[(YIELD_VALUE, RESUME)];

/// Jumps whose target must start with these instructions, because the
/// interpreter jumps past them: an exhausted `FOR_ITER` skips `END_FOR`
/// and continues at the `POP_ITER` after it.
pub(super) static REQUIRED_JUMP_TARGETS: &[(u8, &[u8])] = &[(FOR_ITER, &[END_FOR, POP_ITER])];

/// Instructions nothing may be inserted before: `NOT_TAKEN` reports the
/// not-taken side of the branch that precedes it (sys.monitoring's
/// BRANCH_LEFT), so it must stay right after that instruction.
pub(super) static NEVER_DISPLACED: &[u8] = &[NOT_TAKEN];

/// Operands that count back to a fixed distance after another instruction
/// without jumping there: `END_ASYNC_FOR` names the `SEND` of its loop's
/// `__anext__` await for branch events (`END_SEND_OFFSET` = 6 in
/// `Python/assemble.c`); control only falls through it or re-raises.
pub(super) static OFFSET_ANCHORS: &[(u8, u8, u32)] = &[
    (END_ASYNC_FOR, SEND, 6),
    (INSTRUMENTED_END_ASYNC_FOR, SEND, 6),
];

/// Opcodes that only push objects they created (or immortal ones), never
/// one of their inputs, so their results hold no borrowed reference.
// 3.15: GET_ITER leaves a list or tuple itself on the stack (a virtual
// iterator), so it is not listed.
pub(super) static PUSHES_FRESH: &[u8] = &[
    CALL,
    CALL_KW,
    BINARY_OP,
    BINARY_SLICE,
    COMPARE_OP,
    CONTAINS_OP,
    IS_OP,
    TO_BOOL,
    UNARY_NOT,
    UNARY_NEGATIVE,
    UNARY_INVERT,
    BUILD_TUPLE,
    BUILD_LIST,
    BUILD_SET,
    BUILD_MAP,
    BUILD_STRING,
    BUILD_SLICE,
];

/// Opcodes after which control never reaches the next instruction, including
/// the instrumented forms of returns and unconditional jumps.
pub(super) static TERMINAL: &[u8] = &[
    RETURN_VALUE,
    RAISE_VARARGS,
    RERAISE,
    JUMP_FORWARD,
    JUMP_BACKWARD,
    JUMP_BACKWARD_NO_INTERRUPT,
    INTERPRETER_EXIT,
    INSTRUMENTED_RETURN_VALUE,
    INSTRUMENTED_JUMP_FORWARD,
    INSTRUMENTED_JUMP_BACKWARD,
];

/// `dis.stack_effect`: invalid when either count is negative, else
/// `pushed - popped` (`Python/compile.c` `_PyCompile_OpcodeStackEffect`).
pub(super) fn stack_effect(op: u8, oparg: i32, _jump: Option<bool>) -> Option<i32> {
    let (popped, pushed) = popped_pushed(op, oparg)?;
    if popped < 0 || pushed < 0 {
        return None;
    }
    Some(pushed.wrapping_sub(popped))
}
