package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// exchangeH2 opens an HTTP/2 cleartext connection with prior knowledge
// (preface and SETTINGS), sends one GET on stream 1 and reads frames until
// that stream ends with a 200, acknowledging the server's SETTINGS.
func exchangeH2(c net.Conn, host, path string, deadline time.Time) error {
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		return fmt.Errorf("write preface: %w", err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		return fmt.Errorf("write settings: %w", err)
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", path}, {":authority", host}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}) // writes to a bytes.Buffer cannot fail
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		return fmt.Errorf("write headers: %w", err)
	}
	dec := hpack.NewDecoder(4096, nil)
	status := ""
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return fmt.Errorf("read frame: %w", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					return fmt.Errorf("write settings ack: %w", err)
				}
			}
		case *http2.HeadersFrame:
			fields, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				return fmt.Errorf("decode response head: %w", err)
			}
			if len(fields) > 0 && fields[0].Name == ":status" {
				status = fields[0].Value
			}
		case *http2.GoAwayFrame:
			return fmt.Errorf("GOAWAY %v", f.ErrCode)
		case *http2.RSTStreamFrame:
			return fmt.Errorf("RST_STREAM %v", f.ErrCode)
		}
		if f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream) {
			break
		}
	}
	if status != "200" {
		return fmt.Errorf("status %q, want 200", status)
	}
	return c.SetDeadline(time.Time{})
}
