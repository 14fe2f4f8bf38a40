//go:build deps

// Package deps pins the mandated modules that no package imports yet, so
// that `go mod tidy` keeps them at the versions the project standardised on:
// github.com/klauspost/compress is for the compression stream filter. It is
// built only with the "deps" tag and never linked into ferry.
package deps

import (
	_ "github.com/bytedance/gopkg/lang/mcache"
	_ "github.com/klauspost/compress/gzip"
	_ "github.com/panjf2000/ants/v2"
	_ "github.com/panjf2000/gnet/v2"
	_ "go.uber.org/goleak"
	_ "gopkg.in/yaml.v3"
)
