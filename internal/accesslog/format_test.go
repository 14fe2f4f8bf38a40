package accesslog

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// headers is a Headers for tests: names are matched case-insensitively
// (the test's names differ in more than case).
type headers map[string][]byte

func (h headers) Get(name string) ([]byte, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// knownEntry is a request whose every field is set.
func knownEntry() *Entry {
	return &Entry{
		Start:                   time.Date(2026, 12, 3, 9, 14, 27, 123456789, time.UTC),
		RequestReceived:         1500 * time.Microsecond,
		ResponseReceived:        12*time.Millisecond + 250*time.Microsecond,
		RequestFinished:         13 * time.Millisecond,
		Duration:                13*time.Millisecond + 42*time.Nanosecond,
		BytesSent:               1234,
		BytesReceived:           87,
		Protocol:                "Http1",
		ResponseCode:            200,
		Method:                  []byte("GET"),
		URI:                     []byte("/api/users?id=7&x=1"),
		DownstreamLocalAddress:  "127.0.0.1:8080",
		DownstreamRemoteAddress: "127.0.0.1:50312",
		UpstreamLocalAddress:    "127.0.0.1:50400",
		UpstreamHost:            "10.0.0.1:80",
		UpstreamCluster:         "web",
		RequestHeaders:          headers{"User-Agent": []byte("curl/8.5.0"), "X-Request-Id": []byte("abc-123")},
		ResponseHeaders:         headers{"Content-Type": []byte("text/plain")},
	}
}

func mustCompile(t testing.TB, format string, enc Encoding) *Format {
	t.Helper()
	f, err := Compile(format, enc)
	if err != nil {
		t.Fatalf("Compile(%q): %v", format, err)
	}
	return f
}

// TestDefaultFormatFieldByField checks every field of MOSN's default
// format for a known request.
func TestDefaultFormatFieldByField(t *testing.T) {
	f := mustCompile(t, "", Text)
	line := string(f.Append(nil, knownEntry()))
	if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
		t.Fatalf("line %q: want exactly one trailing newline", line)
	}
	got := strings.Split(strings.TrimSuffix(line, "\n"), " ")
	want := []string{
		"2026/12/03", "09:14:27.123", // start_time holds one space
		"1.5ms",           // request_received_duration
		"12.25ms",         // response_received_duration
		"1234",            // bytes_sent
		"87",              // bytes_received
		"Http1",           // protocol
		"200",             // response_code
		"13.000042ms",     // duration
		"false",           // response_flag
		"200",             // response_code again, as in MOSN's default
		"127.0.0.1:50400", // upstream_local_address
		"127.0.0.1:8080",  // downstream_local_address
		"127.0.0.1:50312", // downstream_remote_address
		"10.0.0.1:80",     // upstream_host
	}
	if len(got) != len(want) {
		t.Fatalf("%d fields %q, want %d %q", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %q, want %q (line %q)", i, got[i], want[i], line)
		}
	}
}

// TestEveryVariableText checks each variable's text for a known request
// and for an entry that knows nothing.
func TestEveryVariableText(t *testing.T) {
	cases := []struct{ name, known, unknown string }{
		{"start_time", "2026/12/03 09:14:27.123", "-"},
		{"request_received_duration", "1.5ms", "-"},
		{"response_received_duration", "12.25ms", "-"},
		{"request_finished_duration", "13ms", "-"},
		{"duration", "13.000042ms", "-"},
		{"bytes_sent", "1234", "0"},
		{"bytes_received", "87", "0"},
		{"protocol", "Http1", "-"},
		{"response_code", "200", "-"},
		{"response_flag", "false", "false"},
		{"response_flags", "false", "false"},
		{"upstream_local_address", "127.0.0.1:50400", "-"},
		{"downstream_local_address", "127.0.0.1:8080", "-"},
		{"downstream_remote_address", "127.0.0.1:50312", "-"},
		{"upstream_host", "10.0.0.1:80", "-"},
		{"upstream_transport_failure_reason", "-", "-"},
		{"upstream_cluster", "web", "-"},
		{"request_method", "GET", "-"},
		{"Http1_request_method", "GET", "-"},
		{"request_uri", "/api/users?id=7&x=1", "-"},
		{"request_path", "/api/users", "-"},
		{"Http2_request_path", "/api/users", "-"},
		{"request_arg", "id=7&x=1", "-"},
		{"request_header_user-agent", "curl/8.5.0", "-"},
		{"Http1_request_header_X-Request-Id", "abc-123", "-"},
		{"request_header_x-missing", "-", "-"},
		{"response_header_content-type", "text/plain", "-"},
	}
	for _, c := range cases {
		f := mustCompile(t, "[%"+c.name+"%]", Text)
		if got := string(f.Append(nil, knownEntry())); got != "["+c.known+"]\n" {
			t.Errorf("%%%s%% = %q, want %q", c.name, got, "["+c.known+"]\n")
		}
		if got := string(f.Append(nil, &Entry{})); got != "["+c.unknown+"]\n" {
			t.Errorf("%%%s%% of an empty entry = %q, want %q", c.name, got, "["+c.unknown+"]\n")
		}
	}
	failed := knownEntry()
	failed.Failure = "upstream_connect_failed"
	f := mustCompile(t, "%response_flag% %upstream_transport_failure_reason%", Text)
	if got := string(f.Append(nil, failed)); got != "true upstream_connect_failed\n" {
		t.Errorf("failed entry = %q", got)
	}
}

// TestTextEscaping: a value cannot end the line, forge a quoted field or
// smuggle bytes outside printable ASCII.
func TestTextEscaping(t *testing.T) {
	e := &Entry{RequestHeaders: headers{"x": []byte("a\nb\"c\\d\x7fé")}}
	f := mustCompile(t, `"%request_header_x%"`, Text)
	want := `"a\x0ab\x22c\x5cd\x7f\xc3\xa9"` + "\n"
	if got := string(f.Append(nil, e)); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestLiteralText: text between variables is kept, \% is a literal %.
func TestLiteralText(t *testing.T) {
	f := mustCompile(t, "code=%response_code%\t100\\% done \\x", Text)
	if got, want := string(f.Append(nil, knownEntry())), "code=200\t100% done \\x\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestJSONDecodesFieldByField decodes a JSON line back and checks each
// key, with its JSON type.
func TestJSONDecodesFieldByField(t *testing.T) {
	f := mustCompile(t, "", JSON)
	line := f.Append(nil, knownEntry())
	if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("line %q: want one object and one newline", line)
	}
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("decode %q: %v", line, err)
	}
	want := map[string]any{
		"start_time":                 "2026/12/03 09:14:27.123",
		"request_received_duration":  "1.5ms",
		"response_received_duration": "12.25ms",
		"bytes_sent":                 float64(1234),
		"bytes_received":             float64(87),
		"protocol":                   "Http1",
		"response_code":              float64(200),
		"duration":                   "13.000042ms",
		"response_flag":              false,
		"upstream_local_address":     "127.0.0.1:50400",
		"downstream_local_address":   "127.0.0.1:8080",
		"downstream_remote_address":  "127.0.0.1:50312",
		"upstream_host":              "10.0.0.1:80",
	}
	if len(got) != len(want) {
		t.Errorf("%d keys %v, want %d", len(got), got, len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	// The repeated response_code is written once, and keys keep the
	// format's order.
	if bytes.Count(line, []byte(`"response_code"`)) != 1 {
		t.Errorf("response_code repeated in %s", line)
	}
	if !bytes.HasPrefix(line, []byte(`{"start_time":`)) {
		t.Errorf("line %s does not start with the format's first variable", line)
	}
}

// TestJSONUnknownIsNull: values not known are null, and an empty entry
// still decodes.
func TestJSONUnknownIsNull(t *testing.T) {
	f := mustCompile(t, "%response_code% %duration% %upstream_host% %request_header_x% %bytes_sent% %response_flag%", JSON)
	line := f.Append(nil, &Entry{})
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("decode %q: %v", line, err)
	}
	for _, k := range []string{"response_code", "duration", "upstream_host", "request_header_x"} {
		if v, ok := got[k]; !ok || v != nil {
			t.Errorf("%s = %#v (present %v), want null", k, v, ok)
		}
	}
	if got["bytes_sent"] != float64(0) || got["response_flag"] != false {
		t.Errorf("bytes_sent = %#v, response_flag = %#v; want 0, false", got["bytes_sent"], got["response_flag"])
	}
}

// TestJSONEscaping: every string decodes back to what encoding/json
// makes of it (invalid UTF-8 becomes U+FFFD, byte by byte), for chosen
// and random bytes.
func TestJSONEscaping(t *testing.T) {
	f := mustCompile(t, "%request_header_x%", JSON)
	values := []string{
		`quote " backslash \ slash /`, "nl\ncr\rtab\tnul\x00del\x7f", "é 日本 😀",
		"\xff\xfe", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80\xa8\xe2\x80\xa9", "\xe2\x82", "<&>",
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		values = append(values, string(b))
	}
	for _, v := range values {
		line := f.Append(nil, &Entry{RequestHeaders: headers{"x": []byte(v)}})
		if v == "" {
			continue
		}
		var got map[string]string
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("value %q: line %q does not decode: %v", v, line, err)
		}
		ref, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got["request_header_x"] != want {
			t.Fatalf("value %q decodes to %q, want %q (line %q)", v, got["request_header_x"], want, line)
		}
	}
}

// TestCompileErrors: each malformed format is refused with a message
// saying what is wrong.
func TestCompileErrors(t *testing.T) {
	cases := []struct{ format, want string }{
		{"%start_time% %no_such%", "unknown variable %no_such%; known: Http1_request_arg, "},
		{"%start_time", "byte 0: unclosed %variable%"},
		{"a %% b", "byte 2: empty variable name (%%); a literal % is written \\%"},
		{"%request_header_%", `variable %request_header_%: "" is not a header name`},
		{"%request_header_a b%", `variable %request_header_a b%: "a b" is not a header name`},
		{"%start_time%\n", "byte 12: control character 0x0a"},
	}
	for _, c := range cases {
		_, err := Compile(c.format, Text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%q) = %v, want an error containing %q", c.format, err, c.want)
		}
	}
	_, err := Compile("%nope%", Text)
	for _, n := range []string{"start_time", "upstream_cluster", "request_header_", "response_header_", "duration"} {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not list %s", err, n)
		}
	}
	if _, err := ParseEncoding("xml"); err == nil || !strings.Contains(err.Error(), "text or json") {
		t.Errorf("ParseEncoding(xml) = %v", err)
	}
	for s, want := range map[string]Encoding{"": Text, "text": Text, "json": JSON} {
		if got, err := ParseEncoding(s); err != nil || got != want {
			t.Errorf("ParseEncoding(%q) = %v, %v", s, got, err)
		}
	}
}

// TestAppendDurationMatchesString: durations are written as
// time.Duration.String writes them (MOSN's format).
func TestAppendDurationMatchesString(t *testing.T) {
	ds := []time.Duration{
		1, 999, 1000, 1001, 1500, 999999, 1e6, 1e6 + 1, 12345678, 1e9 - 1, 1e9, 1e9 + 1,
		59 * time.Second, time.Minute, time.Minute + 500*time.Millisecond, time.Hour, time.Hour + time.Nanosecond,
		100*time.Hour + 59*time.Minute, math.MaxInt64, math.MinInt64, -1, -1500 * time.Microsecond,
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		ds = append(ds, time.Duration(r.Int64N(int64(200*time.Hour)))>>r.UintN(40))
	}
	for _, d := range ds {
		if got := string(appendDuration(nil, d)); got != d.String() {
			t.Fatalf("appendDuration(%d) = %q, want %q", int64(d), got, d.String())
		}
	}
}

// TestKnownVariablesResolve: every listed name compiles, and MOSN's
// variable names from the brief are among them.
func TestKnownVariablesResolve(t *testing.T) {
	for _, n := range KnownVariables() {
		if strings.HasSuffix(n, "_") {
			n += "x-a"
		}
		if _, err := Compile("%"+n+"%", Text); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	for _, n := range strings.Fields(strings.ReplaceAll(DefaultFormat, "%", " ")) {
		if _, ok := names()[n]; !ok {
			t.Errorf("default format variable %s unknown", n)
		}
	}
}

// TestAppendStartTimeMatchesLayout: start_time is what AppendFormat
// writes with MOSN's layout, in the time's own location.
func TestAppendStartTimeMatchesLayout(t *testing.T) {
	east := time.FixedZone("east", 8*3600)
	ts := []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, east), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC), time.Now(),
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		ts = append(ts, time.Unix(r.Int64N(1<<36), r.Int64N(1e9)).In(east))
	}
	for _, tm := range ts {
		if got, want := string(appendStartTime(nil, tm)), tm.Format(StartTimeLayout); got != want {
			t.Fatalf("appendStartTime(%v) = %q, want %q", tm, got, want)
		}
	}
}

// TestUTF8LenAgreesWithTheStandardLibrary: utf8Len accepts exactly the
// sequences unicode/utf8 decodes, for every lead byte from 0x80 with every
// second and third byte, and the four-byte forms with the edges of their
// continuation range; a truncated sequence is not valid.
func TestUTF8LenAgreesWithTheStandardLibrary(t *testing.T) {
	want := func(b []byte) int {
		if r, n := utf8.DecodeRune(b); r != utf8.RuneError || n > 1 {
			return n
		}
		return 0
	}
	check := func(b []byte) {
		if got, w := utf8Len(b, 0), want(b); got != w {
			t.Fatalf("utf8Len(% x) = %d, want %d", b, got, w)
		}
		if got, w := utf8Len(string(b), 0), want(b); got != w {
			t.Fatalf("utf8Len(%q) = %d, want %d", b, got, w)
		}
	}
	for c0 := 0x80; c0 <= 0xff; c0++ {
		check([]byte{byte(c0)})
		for c1 := range 256 {
			check([]byte{byte(c0), byte(c1)})
			for c2 := range 256 {
				check([]byte{byte(c0), byte(c1), byte(c2)})
			}
			if c0 >= 0xf0 {
				for _, c2 := range []byte{0x7f, 0x80, 0xbf, 0xc0} {
					for _, c3 := range []byte{0x7f, 0x80, 0xbf, 0xc0} {
						check([]byte{byte(c0), byte(c1), c2, c3})
					}
				}
			}
		}
	}
}
