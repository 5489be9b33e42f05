//! A small element tree over quick-xml, matched on local names so S3's
//! namespaced XML and OSS's namespace-less XML read the same.

use std::borrow::Cow;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::Reader;

/// Store responses are a few levels deep; anything deeper is not one of them.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Default)]
pub(crate) struct Element<'a> {
    /// Borrowed from the input, as is every text without entities or line breaks to
    /// normalize: a listing page is a thousand entries of a few elements each, and owning
    /// every name and text was most of the work of reading one (`bench`, callgrind).
    pub name: Cow<'a, str>,
    /// The element's own character data, entities resolved, untrimmed. An element with
    /// children keeps only what came before the first (store XML has no mixed content,
    /// and what is between children is indentation).
    pub text: Cow<'a, str>,
    pub children: Vec<Element<'a>>,
}

impl<'a> Element<'a> {
    pub fn child(&self, name: &str) -> Option<&Element<'a>> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Element<'a>> + 's {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// A child's text, trimmed (keys, which may carry spaces, use `child`).
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

/// Parses the root element; text after it is ignored.
pub(crate) fn parse(xml: &[u8]) -> Result<Element<'_>, String> {
    let mut reader = Reader::from_reader(xml);
    let mut stack: Vec<Element> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML: {e}"))?;
        let text_err = |e: quick_xml::encoding::EncodingError| format!("malformed XML text: {e}");
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err("XML nested too deeply".into());
                }
                stack.push(Element {
                    name: local_name(xml, start.local_name().as_ref())?,
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                let el = Element {
                    name: local_name(xml, start.local_name().as_ref())?,
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced XML")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::Text(t) => push_text(&mut stack, t.xml10_content().map_err(text_err)?)?,
            Event::CData(t) => push_text(&mut stack, t.xml10_content().map_err(text_err)?)?,
            Event::GeneralRef(r) => {
                let resolved = match r
                    .resolve_char_ref()
                    .map_err(|e| format!("bad character reference: {e}"))?
                {
                    Some(c) => Cow::Owned(c.to_string()),
                    None => {
                        let name = r.decode().map_err(text_err)?;
                        Cow::Borrowed(
                            resolve_predefined_entity(&name)
                                .ok_or_else(|| format!("unknown XML entity &{name};"))?,
                        )
                    }
                };
                push_text(&mut stack, resolved)?;
            }
            Event::Eof if stack.is_empty() => return Err("no XML element".into()),
            Event::Eof => return Err("truncated XML".into()),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
}

/// A name as a slice of `xml` where it lies in it (always, for a reader over a slice:
/// found by address, since quick-xml lends names only for the event's life), else owned.
fn local_name<'a>(xml: &'a [u8], raw: &[u8]) -> Result<Cow<'a, str>, String> {
    let within = (raw.as_ptr() as usize)
        .checked_sub(xml.as_ptr() as usize)
        .and_then(|at| xml.get(at..at + raw.len()));
    match within {
        Some(bytes) => utf8_name(bytes).map(Cow::Borrowed),
        None => utf8_name(raw).map(|n| Cow::Owned(n.to_owned())),
    }
}

fn utf8_name(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|_| "XML name is not UTF-8".to_string())
}

fn push_text<'a>(stack: &mut [Element<'a>], s: Cow<'a, str>) -> Result<(), String> {
    match stack.last_mut() {
        Some(el) if !el.children.is_empty() => Ok(()),
        Some(el) if el.text.is_empty() => {
            el.text = s;
            Ok(())
        }
        Some(el) => {
            el.text.to_mut().push_str(&s);
            Ok(())
        }
        // Whitespace before the root is normal (S3 pads slow responses with it).
        None if s.trim().is_empty() => Ok(()),
        None => Err("text outside any XML element".into()),
    }
}

/// Escapes character data for an element body.
pub(crate) fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_with_namespaces_entities_and_cdata() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<s3:R xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:A> a &amp; &quot;b&quot; &#x4E2D;<![CDATA[<c>]]></s3:A><B/></s3:R>"#;
        let root = parse(xml).unwrap();
        assert_eq!(root.name, "R");
        assert_eq!(root.child("A").unwrap().text, " a & \"b\" 中<c>");
        assert_eq!(root.child_text("B"), Some(""));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            &b""[..],
            b"   ",
            b"not xml",
            b"<a><b></a>",
            b"<a>",
            b"<a>&bogus;</a>",
            b"<a>&#0;</a>",
            b"\xff\xfe<a/>",
            b"<a>\xff</a>",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn names_and_plain_texts_are_borrowed_from_the_input() {
        let root = parse(b"<s3:R><A>x</A><B>a&amp;b</B><C>a\r\nb</C></s3:R>").unwrap();
        assert!(matches!(root.name, Cow::Borrowed("R")));
        let [a, b, c] = &root.children[..] else {
            panic!("three children")
        };
        assert!(matches!(a.name, Cow::Borrowed("A")));
        assert!(matches!(a.text, Cow::Borrowed("x")));
        assert_eq!(b.text, "a&b");
        // Line ends are normalized as XML 1.0 says, which needs a copy.
        assert_eq!(c.text, "a\nb");
    }

    #[test]
    fn an_element_with_children_keeps_only_the_text_before_them() {
        let root = parse(b"<R>\n <A> 1 </A>\n <B/>\n</R>").unwrap();
        assert_eq!(root.text, "\n ");
        assert_eq!(root.child("A").unwrap().text, " 1 ");
        assert_eq!(root.child_text("A"), Some("1"));
        assert_eq!(root.children.len(), 2);
    }

    #[test]
    fn leading_whitespace_is_fine() {
        assert_eq!(parse(b"\n \n<Error/>").unwrap().name, "Error");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_text("\"a\"&<b>"), "\"a\"&amp;&lt;b&gt;");
    }
}
