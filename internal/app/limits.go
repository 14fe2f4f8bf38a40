package app

import (
	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/codec/http1"
)

func limits(h config.HTTP1) http1.Limits {
	return http1.Limits{MaxRequestLine: h.MaxRequestLineBytes, MaxHeaderBytes: h.MaxHeaderBytes, MaxHeaders: h.MaxHeaders}
}
