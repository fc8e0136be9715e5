//! Splits rule text into tokens, on demand.
//!
//! The lexer is pulled by the parser one token at a time rather than run ahead, because one place needs a
//! different token grammar: after `custom_attributes.` comes a key that may contain `-` and start with a
//! digit (`cost-center`, `2fa_enrolled`), which the ordinary grammar would read as a number or a minus sign.
//!
//! Positions are byte offsets into the source; the parser turns them into character offsets only when it
//! reports an error, so the hot path never counts characters.

use super::path::is_key_char;

/// What a token is. Identifiers, keywords and literals `true`/`false`/`null` are all `Ident`: which is which
/// depends on where they stand, and the parser decides (case-insensitively for keywords).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok<'s> {
    /// A name: a path segment, a keyword (`AND`, `in`), a literal word (`true`, `NULL`).
    Ident(&'s str),
    /// `$NAME`, without the `$`.
    Func(&'s str),
    /// A string literal, escapes resolved.
    Str(String),
    /// A number literal as written (`-12`, `3.5`); the parser converts it where it needs to know whether
    /// it is a valid index.
    Num(&'s str),
    Dot,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    EqEq,
    NotEq,
    Gt,
    Lt,
    Ge,
    Le,
    /// `&&`, the same as `AND`.
    AndAnd,
    /// `||`, the same as `OR`.
    OrOr,
    /// `!`, the same as `NOT`.
    Bang,
    /// The end of the text.
    End,
}

/// A token and where it sits, in bytes.
#[derive(Debug, Clone)]
pub(super) struct Token<'s> {
    pub tok: Tok<'s>,
    pub start: usize,
    pub end: usize,
}

/// A lexing problem at a byte offset.
#[derive(Debug)]
pub(super) struct LexError {
    pub at: usize,
    pub message: String,
}

/// A cursor over rule text. Cheap to copy, which is how the parser looks two tokens ahead (`NOT IN`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

fn err<T>(at: usize, message: impl Into<String>) -> Result<T, LexError> {
    Err(LexError { at, message: message.into() })
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl<'s> Lexer<'s> {
    pub fn new(src: &'s str) -> Self {
        Lexer { src, pos: 0 }
    }

    fn rest(&self) -> &'s str {
        &self.src[self.pos..]
    }

    fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_char2(&self) -> Option<char> {
        let mut it = self.rest().chars();
        it.next();
        it.next()
    }

    fn skip_whitespace(&mut self) {
        while let Some(c) = self.peek_char()
            && c.is_whitespace()
        {
            self.pos += c.len_utf8();
        }
    }

    /// Consumes characters while `keep` holds and returns them.
    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'s str {
        let start = self.pos;
        while let Some(c) = self.peek_char()
            && keep(c)
        {
            self.pos += c.len_utf8();
        }
        &self.src[start..self.pos]
    }

    fn token(&self, tok: Tok<'s>, start: usize) -> Token<'s> {
        Token { tok, start, end: self.pos }
    }

    /// The next token in the ordinary grammar.
    pub fn next_token(&mut self) -> Result<Token<'s>, LexError> {
        self.skip_whitespace();
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            return Ok(self.token(Tok::End, start));
        };
        if is_ident_start(c) {
            let word = self.take_while(is_ident_char);
            return Ok(self.token(Tok::Ident(word), start));
        }
        if c.is_ascii_digit() || (c == '-' && self.peek_char2().is_some_and(|d| d.is_ascii_digit())) {
            return self.number(start);
        }
        if c == '"' || c == '\'' {
            return self.string(c, start);
        }
        if c == '$' {
            self.pos += 1;
            let name = self.take_while(is_ident_char);
            if name.is_empty() || !name.starts_with(is_ident_start) {
                return err(start, "expected a function name after `$`, like `$LOWERCASE`");
            }
            return Ok(self.token(Tok::Func(name), start));
        }
        let two = {
            let mut it = self.rest().chars();
            (it.next(), it.next())
        };
        let (tok, len) = match two {
            (Some('='), Some('=')) => (Tok::EqEq, 2),
            (Some('!'), Some('=')) => (Tok::NotEq, 2),
            (Some('>'), Some('=')) => (Tok::Ge, 2),
            (Some('<'), Some('=')) => (Tok::Le, 2),
            (Some('&'), Some('&')) => (Tok::AndAnd, 2),
            (Some('|'), Some('|')) => (Tok::OrOr, 2),
            (Some('<'), Some('>')) => {
                return err(start, "`<>` is not an operator; write `!=` for \"not equal\"");
            }
            (Some('>'), _) => (Tok::Gt, 1),
            (Some('<'), _) => (Tok::Lt, 1),
            (Some('!'), _) => (Tok::Bang, 1),
            (Some('.'), _) => (Tok::Dot, 1),
            (Some(','), _) => (Tok::Comma, 1),
            (Some('('), _) => (Tok::LParen, 1),
            (Some(')'), _) => (Tok::RParen, 1),
            (Some('['), _) => (Tok::LBracket, 1),
            (Some(']'), _) => (Tok::RBracket, 1),
            (Some('='), _) => {
                return err(start, "`=` is not an operator; write `==` to compare");
            }
            (Some('&'), _) => return err(start, "`&` is not an operator; write `&&` or `AND`"),
            (Some('|'), _) => return err(start, "`|` is not an operator; write `||` or `OR`"),
            (Some('-'), _) => {
                return err(start, "`-` must be followed by digits, like `-1`");
            }
            (Some('“' | '”' | '‘' | '’' | '«' | '»'), _) => {
                return err(start, format!("`{c}` is a typographic quote; strings use straight quotes, `\"` or `'`"));
            }
            _ => {
                return err(start, format!("unexpected character `{}`", c.escape_debug()));
            }
        };
        self.pos += len;
        Ok(self.token(tok, start))
    }

    /// A custom attribute key, the text after `custom_attributes.`: letters, digits, `_` and `-`.
    pub fn key(&mut self) -> Result<&'s str, LexError> {
        self.skip_whitespace();
        let start = self.pos;
        let key = self.take_while(is_key_char);
        if key.is_empty() {
            return err(
                start,
                "expected a custom attribute name after `custom_attributes.`, like `custom_attributes.cost_center`",
            );
        }
        Ok(key)
    }

    /// `-?[0-9]+(\.[0-9]+)?`. A `.` not followed by a digit ends the number, so `5.$LOWERCASE()` is a
    /// method call on 5.
    fn number(&mut self, start: usize) -> Result<Token<'s>, LexError> {
        if self.peek_char() == Some('-') {
            self.pos += 1;
        }
        self.take_while(|c| c.is_ascii_digit());
        if self.peek_char() == Some('.') && self.peek_char2().is_some_and(|d| d.is_ascii_digit()) {
            self.pos += 1;
            self.take_while(|c| c.is_ascii_digit());
        }
        if self.peek_char().is_some_and(is_ident_char) {
            self.take_while(is_ident_char);
            return err(start, format!("`{}` is not a number", &self.src[start..self.pos]));
        }
        Ok(self.token(Tok::Num(&self.src[start..self.pos]), start))
    }

    /// A string in `quote`s with `\"`, `\'`, `\\`, `\n`, `\t`, `\r` and `\uXXXX` escapes (UTF-16 surrogate
    /// pairs such as `\uD83D\uDE00` included, as JSON writes them).
    fn string(&mut self, quote: char, start: usize) -> Result<Token<'s>, LexError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek_char() else {
                return err(start, format!("unterminated string: this `{quote}` is never closed"));
            };
            let at = self.pos;
            self.pos += c.len_utf8();
            if c == quote {
                return Ok(self.token(Tok::Str(out), start));
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some(e) = self.peek_char() else {
                return err(start, format!("unterminated string: this `{quote}` is never closed"));
            };
            self.pos += e.len_utf8();
            match e {
                '"' | '\'' | '\\' => out.push(e),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => out.push(self.unicode_escape(at)?),
                _ => {
                    return err(
                        at,
                        format!(
                            "unknown escape `\\{}` in a string; use `\\\"`, `\\'`, `\\\\`, `\\n`, `\\t` or `\\uXXXX`",
                            e.escape_debug()
                        ),
                    );
                }
            }
        }
    }

    /// Four hex digits, just after `\u`.
    fn hex4(&mut self, at: usize) -> Result<u32, LexError> {
        let digits = self.rest().get(..4).filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        match digits.and_then(|d| u32::from_str_radix(d, 16).ok()) {
            Some(n) => {
                self.pos += 4;
                Ok(n)
            }
            None => err(at, "`\\u` needs four hex digits, like `\\u00e9`"),
        }
    }

    /// The character of a `\uXXXX` escape whose backslash is at `at`; `\u` is already consumed.
    fn unicode_escape(&mut self, at: usize) -> Result<char, LexError> {
        let hi = self.hex4(at)?;
        let code = match hi {
            0xD800..=0xDBFF => {
                if !self.rest().starts_with("\\u") {
                    return err(
                        at,
                        format!("`\\u{hi:04X}` starts a surrogate pair; follow it with a low surrogate like `\\uDE00`"),
                    );
                }
                self.pos += 2;
                let lo = self.hex4(at)?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return err(
                        at,
                        format!("`\\u{hi:04X}` starts a surrogate pair; follow it with a low surrogate like `\\uDE00`"),
                    );
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            0xDC00..=0xDFFF => {
                return err(at, format!("`\\u{hi:04X}` is half of a surrogate pair, not a character"));
            }
            n => n,
        };
        char::from_u32(code).map_or_else(|| err(at, format!("`\\u{code:04X}` is not a character")), Ok)
    }
}
