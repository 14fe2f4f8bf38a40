package app

import (
	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/proxy"
)

// pathOptions translates ferry.proxy.path.
func pathOptions(p config.PathNormalization) proxy.PathOptions {
	o := proxy.PathOptions{Normalize: p.Normalize, MergeSlashes: p.MergeSlashes}
	switch p.EscapedSlashes {
	case "reject":
		o.EscapedSlashes = proxy.EscapedReject
	case "decode":
		o.EscapedSlashes = proxy.EscapedDecode
	}
	return o
}

func limits(h config.HTTP1) http1.Limits {
	return http1.Limits{MaxRequestLine: h.MaxRequestLineBytes, MaxHeaderBytes: h.MaxHeaderBytes, MaxHeaders: h.MaxHeaders}
}
