package http2

import (
	"encoding/binary"

	"github.com/bytedance/gopkg/lang/mcache"
)

// ClientPreface is the connection preface every HTTP/2 client sends first
// (RFC 9113 3.4); Feed consumes and checks it before any frame.
const ClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Frame types (RFC 9113 section 6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	framePriority     = 0x2
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePushPromise  = 0x5
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9
)

// Frame flags.
const (
	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

// Settings identifiers (RFC 9113 6.5.2, RFC 8441 3).
const (
	settingHeaderTableSize       = 0x1
	settingEnablePush            = 0x2
	settingMaxConcurrentStreams  = 0x3
	settingInitialWindowSize     = 0x4
	settingMaxFrameSize          = 0x5
	settingMaxHeaderListSize     = 0x6
	settingEnableConnectProtocol = 0x8
)

const (
	frameHeaderLen     = 9
	defaultWindow      = 65535     // RFC 9113 6.9.2 initial window
	defaultTableSize   = 4096      // RFC 9113 6.5.2 SETTINGS_HEADER_TABLE_SIZE
	minMaxFrameSize    = 1 << 14   // 16384
	maxMaxFrameSize    = 1<<24 - 1 // 16777215
	maxWindow          = 1<<31 - 1 // 2^31-1, the largest legal window
	streamIDMask       = 1<<31 - 1 // clears the reserved bit
	outChunkSize       = 4096      // size of one output chunk (from mcache, back to it at ResetOut)
	recentlyResetCount = 64        // stream ids remembered after our RST_STREAM
	maxDebugData       = 256       // bound on GOAWAY debug data we send
	maxKeptVec         = 1024      // gather-list capacity kept after ResetOut
)

// frameHeader is the decoded 9-octet frame header (RFC 9113 4.1).
type frameHeader struct {
	length uint32
	typ    uint8
	flags  uint8
	id     uint32
}

func parseFrameHeader(b []byte) frameHeader {
	return frameHeader{
		length: uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		typ:    b[3],
		flags:  b[4],
		id:     binary.BigEndian.Uint32(b[5:9]) & streamIDMask,
	}
}

// outBuf is the gather list returned by Conn.Out. Bytes the Conn produces
// itself (frame headers, control frames, header blocks) are copied into
// fixed-capacity chunks that are never grown, so slices into them stay
// valid until ResetOut; DATA payloads are referenced, not copied. When the
// tail of the list is already a slice of the current chunk, a write extends
// that entry instead of adding one, so consecutive small frames make one
// iovec.
type outBuf struct {
	vec       [][]byte
	n         int
	cur       []byte   // current chunk: len is the bytes used, cap is fixed
	start     int      // where the tail entry of vec starts in cur
	tailOwned bool     // vec's tail entry is cur[start:len(cur)]
	used      [][]byte // chunks referenced by vec, returned to mcache by reset
}

// write copies p into the chunks and appends it to the list.
func (o *outBuf) write(p []byte) { appendOut(o, p) }

// writeString is write for a string.
func (o *outBuf) writeString(s string) { appendOut(o, s) }

func appendOut[T string | []byte](o *outBuf, p T) {
	o.n += len(p)
	for len(p) > 0 {
		if len(o.cur) == cap(o.cur) {
			o.newChunk()
		}
		from := len(o.cur)
		k := copy(o.cur[from:cap(o.cur)], p)
		o.cur = o.cur[:from+k]
		if o.tailOwned {
			o.vec[len(o.vec)-1] = o.cur[o.start : from+k]
		} else {
			o.vec = append(o.vec, o.cur[from:from+k])
			o.start = from
			o.tailOwned = true
		}
		p = p[k:]
	}
}

// frameHeader appends a frame header.
func (o *outBuf) frameHeader(length int, typ, flags uint8, id uint32) {
	var h [frameHeaderLen]byte
	h[0], h[1], h[2] = byte(length>>16), byte(length>>8), byte(length)
	h[3], h[4] = typ, flags
	binary.BigEndian.PutUint32(h[5:], id)
	o.write(h[:])
}

// ref appends p to the list without copying it.
func (o *outBuf) ref(p []byte) {
	if len(p) == 0 {
		return
	}
	o.vec = append(o.vec, p)
	o.n += len(p)
	o.tailOwned = false
}

func (o *outBuf) newChunk() {
	c := mcache.Malloc(0, outChunkSize)
	o.used = append(o.used, c)
	o.cur = c
	o.tailOwned = false
}

// reset forgets the list after the caller wrote it. It drops the
// references to caller-owned DATA payloads and gives the chunks back to
// the shared pool: an idle connection holds no output memory.
func (o *outBuf) reset() {
	if cap(o.vec) > maxKeptVec {
		o.vec = nil
	} else {
		clear(o.vec)
		o.vec = o.vec[:0]
	}
	o.n = 0
	for _, c := range o.used {
		mcache.Free(c)
	}
	clear(o.used)
	o.used = o.used[:0]
	o.cur = nil
	o.tailOwned = false
}
