//! Variable-length integers used by `co_linetable` (little-endian 6-bit
//! chunks) and `co_exceptiontable` (big-endian 6-bit chunks). INTERFACE STUB.
