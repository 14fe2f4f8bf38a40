package conformance

import (
	"fmt"
	"strings"
)

// fieldCases are field-line syntax: names, values, bare CR/LF, obs-fold and
// limits (RFC 9112 5, RFC 9110 5.5), after Go's TestServerValidatesHeaders
// and Envoy's and llhttp's header tables.
func fieldCases() []tcase {
	const (
		rfcName  = "RFC 9110 5.1: field-name = token"
		rfcValue = "RFC 9110 5.5: field values hold no CTL but HTAB, no DEL"
		rfcLine  = "RFC 9112 2.2: CRLF line endings; bare CR MUST be rejected or replaced"
	)
	bad := func(name, ref, field string) tcase { return reject(name, ref, 400, get("/h", field)) }
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("X-F%d: v", i)
	}
	return []tcase{
		bad("space before colon", "RFC 9112 5.1: MUST be 400", "X-A : 1"),
		bad("tab before colon", "RFC 9112 5.1: MUST be 400", "X-A\t: 1"),
		bad("Host space before colon", "RFC 9112 5.1: MUST be 400", "Host : app.test"),
		bad("empty name", rfcName, ": value"),
		bad("space in name", rfcName, "X A: 1"),
		bad("paren in name", rfcName, "X(A): 1"),
		bad("slash in name", rfcName, "X/A: 1"),
		bad("non-ASCII name", rfcName, "X\xc3\xa9: 1"),
		bad("NUL in name", rfcName, "X\x00A: 1"),
		bad("no colon", "RFC 9112 5: field-line = field-name \":\" OWS field-value OWS", "X-A 1"),
		bad("NUL in value", rfcValue, "X-A: a\x00b"),
		bad("DEL in value", rfcValue, "X-A: a\x7fb"),
		bad("SOH in value", rfcValue, "X-A: a\x01b"),
		bad("VT in value", rfcValue, "X-A: a\x0bb"),
		bad("FF in value", rfcValue, "X-A: a\x0cb"),
		bad("ESC in value", rfcValue, "X-A: a\x1bb"),
		bad("bare CR in value", rfcLine, "X-A: a\rb"),
		bad("bare CR at end of line", rfcLine, "X-A: a\r"),
		bad("bare CR injects a field", rfcLine, "X-A: a\rTransfer-Encoding: chunked"),
		bad("bare LF injects a field", rfcLine+"; ferry rejects bare LF", "X-A: a\nX-Injected: 1"),
		bad("obs-fold SP", "RFC 9112 5.2: MUST be 400 or replaced by SP", "X-A: a\r\n b"),
		bad("obs-fold HTAB", "RFC 9112 5.2: MUST be 400 or replaced by SP", "X-A: a\r\n\tb"),
		reject("whitespace before first field", "RFC 9112 2.2: MUST reject or ignore such lines; ferry rejects", 400,
			"GET /h HTTP/1.1\r\n X-A: 1\r\n"+host+"\r\n"),
		reject("bare LF line endings", rfcLine+"; ferry rejects bare LF", 400, "GET /h HTTP/1.1\n"+"Host: app.test\n\n"),
		reject("mixed line endings", rfcLine+"; ferry rejects bare LF", 400, "GET /h HTTP/1.1\r\nHost: app.test\n\r\n"),
		reject("too many fields", "RFC 6585 5: 431; ferry allows 100 fields", 431, get("/h", many...)),
		reject("header section too large", "RFC 6585 5: 431; ferry allows 32 KiB", 431, get("/h", "X-Big: "+strings.Repeat("a", 40<<10))),
		pass("value OWS trimmed", "RFC 9112 5: OWS before and after the value is not part of it",
			get("/a", "X-A: \t spaced  value \t"), up{line: "GET /a HTTP/1.1", has: []string{"X-A: spaced  value"}}),
		{name: "value OWS not forwarded", ref: "RFC 9112 5: a proxy forwards the field value without the OWS",
			req: get("/a", "X-A:   v   "), want: []int{200}, follow: true,
			upCheck: func(_ *exchange, got []*upReq) error {
				if len(got) != 1 {
					return fmt.Errorf("%d requests forwarded, want 1", len(got))
				}
				for _, f := range got[0].fields {
					if strings.HasPrefix(f, "X-A:") && f != "X-A: v" && f != "X-A:v" {
						return fmt.Errorf("field line %q, want \"X-A: v\"", f)
					}
				}
				return nil
			}},
		pass("colon in value", "RFC 9110 5.5: \":\" is a field-vchar", get("/a", "X-A: a:b::c"),
			up{line: "GET /a HTTP/1.1", has: []string{"X-A: a:b::c"}}),
		pass("tab inside value", "RFC 9110 5.5: HTAB is allowed inside a value", get("/a", "X-A: a\tb"),
			up{line: "GET /a HTTP/1.1", has: []string{"X-A: a\tb"}}),
		pass("token punctuation in name", rfcName+": tchar includes !#$%&'*+-.^_`|~", get("/a", "X!#$%&'*+-.^_`|~: 1"),
			up{line: "GET /a HTTP/1.1", has: []string{"X!#$%&'*+-.^_`|~: 1"}}),
	}
}
