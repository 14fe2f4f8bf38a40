package app

import (
	"fmt"

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

// proxySettings are the proxy filters' ferry-wide settings from f (as
// proxy.Options has them at start).
func proxySettings(f config.Ferry) (proxy.Settings, error) {
	f = f.WithDefaults()
	xff, err := proxy.ParseXFF(string(f.Proxy.XFF))
	if err != nil {
		return proxy.Settings{}, fmt.Errorf("ferry.proxy.xff: %w", err)
	}
	return proxy.Settings{Limits: limits(f.HTTP1), MaxRequestBodyBytes: f.HTTP1.MaxRequestBodyBytes,
		MaxRequestsPerConn: f.HTTP1.MaxRequestsPerConnection, MaxPipelinedBytes: f.HTTP1.MaxPipelinedBytes,
		RequestHeaderTimeout: f.Timeouts.RequestHeader.Std(), RequestBodyTimeout: f.Timeouts.RequestBody.Std(),
		RequestTimeout: f.Timeouts.Request.Std(), IdleTimeout: f.Timeouts.Idle.Std(),
		Via: f.Proxy.Via, XFF: xff, Path: pathOptions(f.Proxy.Path)}, nil
}

func limits(h config.HTTP1) http1.Limits {
	return http1.Limits{MaxRequestLine: h.MaxRequestLineBytes, MaxHeaderBytes: h.MaxHeaderBytes, MaxHeaders: h.MaxHeaders}
}
