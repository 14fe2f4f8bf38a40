// Package configs embeds ferry's default configuration, used when ferry
// starts without -c: a listener on 127.0.0.1:8080 in front of the demo
// upstream on 127.0.0.1:8081 (make run starts both).
package configs

import _ "embed"

// Default is configs/default.json.
//
//go:embed default.json
var Default []byte
