//! The syntax-error texts of Go's `encoding/json`, which v0.6's REST server
//! returned to clients for a malformed body.
//!
//! serde_json finds the same errors but words them its own way; scripts
//! written against v0.6 match Go's words. Go validates the whole body with
//! a byte-level state machine before decoding anything, so this module
//! replays that machine (Go 1.7's `scanner.go`, the release v0.6 was built
//! with) and reports its first error. It runs only once serde has already
//! refused a body, so the happy path pays nothing.

/// Go's `SyntaxError` text for `body`, or `None` when Go would accept it.
pub fn syntax_error(body: &[u8]) -> Option<String> {
    let mut scanner = Scanner::default();
    for &c in body {
        if let Err(e) = scanner.step(c) {
            return Some(e);
        }
    }
    scanner.eof().err()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

#[derive(Clone, Copy, Default)]
enum State {
    #[default]
    BeginValue,
    BeginValueOrEmpty,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    /// Hex digits still expected after `\u`.
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// The rest of a literal still expected, and the whole literal.
    Literal(&'static [u8], &'static str),
}

#[derive(Default)]
struct Scanner {
    state: State,
    stack: Vec<Container>,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

impl Scanner {
    /// Go's `scanner.eof`: a final space flushes a pending number or literal.
    fn eof(&mut self) -> Result<(), String> {
        if matches!(self.state, State::EndTop) {
            return Ok(());
        }
        self.step(b' ')?;
        if matches!(self.state, State::EndTop) {
            Ok(())
        } else {
            Err("unexpected end of JSON input".to_owned())
        }
    }

    fn step(&mut self, c: u8) -> Result<(), String> {
        match self.state {
            State::BeginValueOrEmpty if c == b']' => self.end_value(c),
            State::BeginValueOrEmpty | State::BeginValue => self.begin_value(c),
            State::BeginStringOrEmpty if c == b'}' => {
                self.set_top(Container::ObjectValue);
                self.end_value(c)
            }
            State::BeginStringOrEmpty | State::BeginString => self.begin_string(c),
            State::EndValue => self.end_value(c),
            State::EndTop if is_space(c) => Ok(()),
            State::EndTop => Err(invalid(c, "after top-level value")),
            State::InString => {
                self.state = match c {
                    b'"' => State::EndValue,
                    b'\\' => State::InStringEsc,
                    c if c < 0x20 => return Err(invalid(c, "in string literal")),
                    _ => State::InString,
                };
                Ok(())
            }
            State::InStringEsc => {
                self.state = match c {
                    b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => State::InString,
                    b'u' => State::InStringEscU(4),
                    _ => return Err(invalid(c, "in string escape code")),
                };
                Ok(())
            }
            State::InStringEscU(left) => {
                if !c.is_ascii_hexdigit() {
                    return Err(invalid(c, "in \\u hexadecimal character escape"));
                }
                self.state = if left == 1 {
                    State::InString
                } else {
                    State::InStringEscU(left - 1)
                };
                Ok(())
            }
            State::Neg => match c {
                b'0' => self.go(State::Zero),
                b'1'..=b'9' => self.go(State::One),
                _ => Err(invalid(c, "in numeric literal")),
            },
            State::One if c.is_ascii_digit() => Ok(()),
            State::One | State::Zero => match c {
                b'.' => self.go(State::Dot),
                b'e' | b'E' => self.go(State::E),
                _ => self.end_value(c),
            },
            State::Dot if c.is_ascii_digit() => self.go(State::Dot0),
            State::Dot => Err(invalid(c, "after decimal point in numeric literal")),
            State::Dot0 => match c {
                b'0'..=b'9' => Ok(()),
                b'e' | b'E' => self.go(State::E),
                _ => self.end_value(c),
            },
            State::E if c == b'+' || c == b'-' => self.go(State::ESign),
            State::E | State::ESign if c.is_ascii_digit() => self.go(State::E0),
            State::E | State::ESign => Err(invalid(c, "in exponent of numeric literal")),
            State::E0 if c.is_ascii_digit() => Ok(()),
            State::E0 => self.end_value(c),
            State::Literal(rest, word) => {
                if c != rest[0] {
                    let context = format!("in literal {word} (expecting {})", quote(rest[0]));
                    return Err(invalid(c, &context));
                }
                self.state = if rest.len() == 1 {
                    State::EndValue
                } else {
                    State::Literal(&rest[1..], word)
                };
                Ok(())
            }
        }
    }

    fn go(&mut self, state: State) -> Result<(), String> {
        self.state = state;
        Ok(())
    }

    fn begin_value(&mut self, c: u8) -> Result<(), String> {
        self.state = match c {
            c if is_space(c) => return Ok(()),
            b'{' => {
                self.stack.push(Container::ObjectKey);
                State::BeginStringOrEmpty
            }
            b'[' => {
                self.stack.push(Container::ArrayValue);
                State::BeginValueOrEmpty
            }
            b'"' => State::InString,
            b'-' => State::Neg,
            b'0' => State::Zero,
            b'1'..=b'9' => State::One,
            b't' => State::Literal(b"rue", "true"),
            b'f' => State::Literal(b"alse", "false"),
            b'n' => State::Literal(b"ull", "null"),
            _ => return Err(invalid(c, "looking for beginning of value")),
        };
        Ok(())
    }

    fn begin_string(&mut self, c: u8) -> Result<(), String> {
        match c {
            c if is_space(c) => Ok(()),
            b'"' => self.go(State::InString),
            _ => Err(invalid(c, "looking for beginning of object key string")),
        }
    }

    fn set_top(&mut self, container: Container) {
        if let Some(top) = self.stack.last_mut() {
            *top = container;
        }
    }

    fn end_value(&mut self, c: u8) -> Result<(), String> {
        let Some(&top) = self.stack.last() else {
            self.state = State::EndTop;
            return self.step(c);
        };
        self.state = State::EndValue;
        if is_space(c) {
            return Ok(());
        }
        match (top, c) {
            (Container::ObjectKey, b':') => {
                self.set_top(Container::ObjectValue);
                self.go(State::BeginValue)
            }
            (Container::ObjectKey, _) => Err(invalid(c, "after object key")),
            (Container::ObjectValue, b',') => {
                self.set_top(Container::ObjectKey);
                self.go(State::BeginString)
            }
            (Container::ObjectValue | Container::ArrayValue, b'}' | b']')
                if (c == b'}') == (top == Container::ObjectValue) =>
            {
                self.stack.pop();
                self.end_value_after_pop()
            }
            (Container::ObjectValue, _) => Err(invalid(c, "after object key:value pair")),
            (Container::ArrayValue, b',') => self.go(State::BeginValue),
            (Container::ArrayValue, _) => Err(invalid(c, "after array element")),
        }
    }

    /// Go's `popParseState`: at the top level the value is complete.
    fn end_value_after_pop(&mut self) -> Result<(), String> {
        self.state = if self.stack.is_empty() {
            State::EndTop
        } else {
            State::EndValue
        };
        Ok(())
    }
}

fn invalid(c: u8, context: &str) -> String {
    format!("invalid character {} {context}", quote(c))
}

/// Go's `quoteChar`: the byte as a rune, quoted the way `strconv.Quote`
/// would, between single quotes.
fn quote(c: u8) -> String {
    let inner = match c {
        b'\'' => "\\'".to_owned(),
        b'"' => "\"".to_owned(),
        0x07 => "\\a".to_owned(),
        0x08 => "\\b".to_owned(),
        0x0c => "\\f".to_owned(),
        b'\n' => "\\n".to_owned(),
        b'\r' => "\\r".to_owned(),
        b'\t' => "\\t".to_owned(),
        0x0b => "\\v".to_owned(),
        b'\\' => "\\\\".to_owned(),
        0x00..=0x1f | 0x7f => format!("\\x{c:02x}"),
        0x80..=0xa0 | 0xad => format!("\\u{c:04x}"),
        _ => char::from(c).to_string(),
    };
    format!("'{inner}'")
}

#[cfg(test)]
mod tests {
    use super::syntax_error;

    fn err(body: &str) -> String {
        syntax_error(body.as_bytes()).unwrap_or_else(|| panic!("{body:?} should be refused"))
    }

    #[test]
    fn valid_json_has_no_error() {
        for body in [
            r#"{"jsonrpc":"2.0","params":{"ctorMsg":{"args":["a","b"]}},"id":1}"#,
            " [1, -0.5e+3, true, false, null, \"\\u00e9\\n\", {}] ",
            "0",
            "[]",
        ] {
            assert_eq!(syntax_error(body.as_bytes()), None, "{body}");
        }
    }

    #[test]
    fn truncated_bodies_are_unexpected_end() {
        for body in ["{", "{\"jsonrpc\":", "[1,", "\"abc", "   ", "{\"a\":\"b\""] {
            assert_eq!(err(body), "unexpected end of JSON input", "{body}");
        }
    }

    #[test]
    fn each_context_names_the_character_as_go_does() {
        let cases = [
            ("x", "invalid character 'x' looking for beginning of value"),
            (
                "{x",
                "invalid character 'x' looking for beginning of object key string",
            ),
            ("{\"a\" 1}", "invalid character '1' after object key"),
            (
                "{\"a\":1 2}",
                "invalid character '2' after object key:value pair",
            ),
            (
                "{\"a\":1]",
                "invalid character ']' after object key:value pair",
            ),
            ("[1 2]", "invalid character '2' after array element"),
            ("{} x", "invalid character 'x' after top-level value"),
            ("\"a\nb\"", "invalid character '\\n' in string literal"),
            ("\"\\q\"", "invalid character 'q' in string escape code"),
            (
                "\"\\u12g4\"",
                "invalid character 'g' in \\u hexadecimal character escape",
            ),
            ("-x", "invalid character 'x' in numeric literal"),
            (
                "1.x",
                "invalid character 'x' after decimal point in numeric literal",
            ),
            (
                "1ex",
                "invalid character 'x' in exponent of numeric literal",
            ),
            ("01", "invalid character '1' after top-level value"),
            (
                "trie",
                "invalid character 'i' in literal true (expecting 'u')",
            ),
            (
                "nul",
                "invalid character ' ' in literal null (expecting 'l')",
            ),
            (
                "[1,]",
                "invalid character ']' looking for beginning of value",
            ),
            (
                "{'a':1}",
                "invalid character '\\'' looking for beginning of object key string",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(err(body), want, "{body:?}");
        }
    }
}
