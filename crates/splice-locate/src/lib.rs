//! splice-locate: line specs -> statement lines. (Filled in by the locate work.)
