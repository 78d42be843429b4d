//! Hand-written marshal data: the storage choices `same` must see through,
//! the differences it must not, and data it must refuse without panicking.
//! (tests/pyc_vs_marshal.py checks real `.pyc` files against CPython.)

use splice_pyc::{MarshalError, Marshalled};

const FLAG: u8 = 0x80;

fn s(text: &str) -> Vec<u8> {
    // a short ASCII str
    let mut v = vec![b'z', text.len() as u8];
    v.extend_from_slice(text.as_bytes());
    v
}

fn long_str(kind: u8, text: &str) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&(text.len() as u32).to_le_bytes());
    v.extend_from_slice(text.as_bytes());
    v
}

fn int(x: i32) -> Vec<u8> {
    let mut v = vec![b'i'];
    v.extend_from_slice(&x.to_le_bytes());
    v
}

fn tuple(items: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![b')', items.len() as u8];
    items.iter().for_each(|i| v.extend_from_slice(i));
    v
}

fn frozenset(items: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![b'>'];
    v.extend_from_slice(&(items.len() as u32).to_le_bytes());
    items.iter().for_each(|i| v.extend_from_slice(i));
    v
}

fn bytes(b: &[u8]) -> Vec<u8> {
    let mut v = vec![b's'];
    v.extend_from_slice(&(b.len() as u32).to_le_bytes());
    v.extend_from_slice(b);
    v
}

fn flagged(mut v: Vec<u8>) -> Vec<u8> {
    v[0] |= FLAG;
    v
}

fn reference(index: u32) -> Vec<u8> {
    let mut v = vec![b'r'];
    v.extend_from_slice(&index.to_le_bytes());
    v
}

struct Code {
    argcount: u32,
    stacksize: u32,
    flags: u32,
    kinds: Vec<u8>,
    consts: Vec<u8>,
    filename: Vec<u8>,
    name: Vec<u8>,
    qualname: Vec<u8>,
    first_line: u32,
}

impl Default for Code {
    fn default() -> Self {
        Code {
            argcount: 0,
            stacksize: 1,
            flags: 3,
            kinds: bytes(&[]),
            consts: tuple(&[int(1)]),
            filename: s("a.py"),
            name: s("f"),
            qualname: s("f"),
            first_line: 3,
        }
    }
}

impl Code {
    fn bytes(&self) -> Vec<u8> {
        let mut v = vec![b'c'];
        for field in [self.argcount, 0, 0, self.stacksize, self.flags] {
            v.extend_from_slice(&field.to_le_bytes());
        }
        v.extend(bytes(&[151, 0, 100, 0, 83, 0]));
        v.extend(&self.consts);
        v.extend(tuple(&[]));
        v.extend(tuple(&[]));
        v.extend(&self.kinds);
        v.extend(&self.filename);
        v.extend(&self.name);
        v.extend(&self.qualname);
        v.extend_from_slice(&self.first_line.to_le_bytes());
        v.extend(bytes(&[1, 2]));
        v.extend(bytes(&[]));
        v
    }
}

fn read(v: Vec<u8>) -> Marshalled {
    Marshalled::read(v).expect("valid marshal data")
}

fn same(a: Vec<u8>, b: Vec<u8>) -> bool {
    read(a).same(0, &read(b), 0).expect("comparable")
}

#[test]
fn finds_code_objects_by_first_line_and_names() {
    let inner = Code {
        name: s("g"),
        qualname: s("f.<locals>.g"),
        first_line: 4,
        ..Code::default()
    };
    let outer = Code {
        consts: tuple(&[inner.bytes(), int(2)]),
        ..Code::default()
    };
    let m = read(outer.bytes());
    assert_eq!(m.codes().len(), 2);
    let found: Vec<_> = m.find(4, b"g", b"f.<locals>.g").collect();
    assert_eq!(found.len(), 1);
    assert_eq!(m.root_code().map(|c| c.first_line), Some(3));
    assert_eq!(
        m.find(4, b"g", b"g").count(),
        0,
        "the qualified name must match too"
    );
}

#[test]
fn names_given_as_back_references_are_followed() {
    // the qualname refers back to the interned name
    let code = Code {
        name: flagged(long_str(b't', "forward")),
        qualname: reference(0),
        ..Code::default()
    };
    let m = read(code.bytes());
    assert_eq!(m.find(3, b"forward", b"forward").count(), 1);
}

#[test]
fn storage_choices_do_not_make_objects_differ() {
    let plain = Code::default().bytes();
    // the same strings stored long, interned, flagged
    let long = Code {
        name: flagged(long_str(b'A', "f")),
        qualname: reference(0),
        filename: long_str(b'u', "a.py"),
        ..Code::default()
    };
    assert!(same(plain.clone(), long.bytes()));
    // a back-reference on one side for a constant written out on the other
    let refs = Code {
        consts: flagged(tuple(&[flagged(int(1))])),
        ..Code::default()
    };
    assert!(same(plain, refs.bytes()));
}

#[test]
fn what_code_equality_ignores_is_not_compared() {
    // the file name, the stack size and the local kinds, as code `==`
    let moved = Code {
        filename: s("/elsewhere/a.py"),
        ..Code::default()
    };
    assert!(same(Code::default().bytes(), moved.bytes()));
    let deeper = Code {
        stacksize: 2,
        ..Code::default()
    };
    assert!(same(Code::default().bytes(), deeper.bytes()));
    let arg_kinds = Code {
        kinds: bytes(&[0x26]),
        ..Code::default()
    };
    let plain_kinds = Code {
        kinds: bytes(&[0x20]),
        ..Code::default()
    };
    assert!(same(plain_kinds.bytes(), arg_kinds.bytes()));
}

#[test]
fn sets_compare_in_any_order() {
    let a = Code {
        consts: tuple(&[frozenset(&[s("x"), s("y"), int(3)])]),
        ..Code::default()
    };
    let b = Code {
        consts: tuple(&[frozenset(&[int(3), s("y"), s("x")])]),
        ..Code::default()
    };
    let c = Code {
        consts: tuple(&[frozenset(&[int(3), s("y"), s("z")])]),
        ..Code::default()
    };
    assert!(same(a.bytes(), b.bytes()));
    assert!(!same(a.bytes(), c.bytes()));
}

#[test]
fn every_other_field_is_compared() {
    let base = Code::default();
    let differs = [
        Code {
            argcount: 1,
            ..Code::default()
        },
        Code {
            flags: 0x23,
            ..Code::default()
        },
        Code {
            consts: tuple(&[int(2)]),
            ..Code::default()
        },
        Code {
            consts: tuple(&[s("1")]),
            ..Code::default()
        },
        Code {
            name: s("g"),
            ..Code::default()
        },
        Code {
            qualname: s("C.f"),
            ..Code::default()
        },
        Code {
            first_line: 4,
            ..Code::default()
        },
    ];
    for (i, other) in differs.iter().enumerate() {
        assert!(
            !same(base.bytes(), other.bytes()),
            "variant {i} compared equal"
        );
    }
}

#[test]
fn bad_data_is_an_error_not_a_panic() {
    let good = Code::default().bytes();
    for cut in 0..good.len() {
        assert!(
            Marshalled::read(good[..cut].to_vec()).is_err(),
            "cut at {cut} read"
        );
    }
    assert!(matches!(
        Marshalled::read(vec![b'W']),
        Err(MarshalError::UnknownType { code: b'W', at: 0 })
    ));
    assert!(matches!(
        Marshalled::read(tuple(&[reference(0)])),
        Err(MarshalError::BadRef { index: 0, .. })
    ));
    let mut trailing = int(1);
    trailing.push(b'N');
    assert!(matches!(
        Marshalled::read(trailing),
        Err(MarshalError::Trailing { extra: 1 })
    ));
    let mut deep = vec![];
    for _ in 0..1000 {
        deep.extend([b')', 1]);
    }
    deep.push(b'N');
    assert!(matches!(
        Marshalled::read(deep),
        Err(MarshalError::TooDeep { .. })
    ));
    // a length far past the end
    assert!(Marshalled::read(vec![b's', 0xff, 0xff, 0xff, 0xff]).is_err());
}
