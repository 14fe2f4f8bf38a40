//go:build deps

// Package deps pins the modules ferry depends on so that `go mod tidy` keeps
// them while the packages that use them are being written.
package deps

import (
	_ "github.com/bytedance/gopkg/lang/mcache"
	_ "github.com/klauspost/compress/gzip"
	_ "github.com/panjf2000/ants/v2"
	_ "github.com/panjf2000/gnet/v2"
	_ "go.uber.org/goleak"
	_ "gopkg.in/yaml.v3"
)
