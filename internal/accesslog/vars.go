package accesslog

import (
	"slices"
	"strings"
)

// variable is one %name% of a format: what it reads from an Entry.
type variable uint8

// The variables, MOSN's names in the comments (the table below maps
// names to them). docs/operations.md ("Access log") documents each.
const (
	varNone                     variable = iota
	varStartTime                         // start_time
	varRequestReceivedDuration           // request_received_duration
	varResponseReceivedDuration          // response_received_duration
	varRequestFinishedDuration           // request_finished_duration
	varDuration                          // duration
	varBytesSent                         // bytes_sent
	varBytesReceived                     // bytes_received
	varProtocol                          // protocol
	varResponseCode                      // response_code
	varResponseFlag                      // response_flag, response_flags
	varUpstreamLocalAddress              // upstream_local_address
	varDownstreamLocalAddress            // downstream_local_address
	varDownstreamRemoteAddress           // downstream_remote_address
	varUpstreamHost                      // upstream_host
	varUpstreamFailure                   // upstream_transport_failure_reason
	varUpstreamCluster                   // upstream_cluster
	varRequestMethod                     // request_method
	varRequestURI                        // request_uri
	varRequestPath                       // request_path
	varRequestArg                        // request_arg
	varRequestHeader                     // request_header_NAME
	varResponseHeader                    // response_header_NAME
)

// names maps every accepted variable name to its variable. MOSN's
// protocol-specific spellings (Http1_request_method, Http2_request_path,
// …) are aliases of the protocol-neutral ones, as in MOSN, where both
// read the same request. A function, not a global: formats are compiled
// at configuration time only.
func names() map[string]variable {
	return map[string]variable{
		"start_time":                        varStartTime,
		"request_received_duration":         varRequestReceivedDuration,
		"response_received_duration":        varResponseReceivedDuration,
		"request_finished_duration":         varRequestFinishedDuration,
		"duration":                          varDuration,
		"bytes_sent":                        varBytesSent,
		"bytes_received":                    varBytesReceived,
		"protocol":                          varProtocol,
		"response_code":                     varResponseCode,
		"response_flag":                     varResponseFlag,
		"response_flags":                    varResponseFlag,
		"upstream_local_address":            varUpstreamLocalAddress,
		"downstream_local_address":          varDownstreamLocalAddress,
		"downstream_remote_address":         varDownstreamRemoteAddress,
		"upstream_host":                     varUpstreamHost,
		"upstream_transport_failure_reason": varUpstreamFailure,
		"upstream_cluster":                  varUpstreamCluster,
		"request_method":                    varRequestMethod,
		"request_uri":                       varRequestURI,
		"request_path":                      varRequestPath,
		"request_arg":                       varRequestArg,
		"Http1_request_method":              varRequestMethod,
		"Http1_request_uri":                 varRequestURI,
		"Http1_request_path":                varRequestPath,
		"Http1_request_arg":                 varRequestArg,
		"Http2_request_method":              varRequestMethod,
		"Http2_request_uri":                 varRequestURI,
		"Http2_request_path":                varRequestPath,
		"Http2_request_arg":                 varRequestArg,
	}
}

// headerVar is a variable that takes a header name after its prefix.
type headerVar struct {
	prefix string
	v      variable
}

// prefixes are the header variables.
func prefixes() []headerVar {
	return []headerVar{
		{"request_header_", varRequestHeader},
		{"response_header_", varResponseHeader},
		{"Http1_request_header_", varRequestHeader},
		{"Http2_request_header_", varRequestHeader},
	}
}

// KnownVariables lists the variable names a format may use, sorted; a
// name ending in "_" is a prefix completed by a header name
// (request_header_x-request-id). Any goroutine.
func KnownVariables() []string {
	out := make([]string, 0, 40)
	for n := range names() {
		out = append(out, n)
	}
	for _, p := range prefixes() {
		out = append(out, p.prefix)
	}
	slices.Sort(out)
	return out
}

// lookup resolves a variable name: the variable and, for a header
// variable, the header name.
func lookup(name string) (variable, string, bool) {
	if v, ok := names()[name]; ok {
		return v, "", true
	}
	for _, p := range prefixes() {
		if h, ok := strings.CutPrefix(name, p.prefix); ok {
			return p.v, h, true
		}
	}
	return varNone, "", false
}
