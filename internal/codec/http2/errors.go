package http2

import "strconv"

// ErrCode is an HTTP/2 error code (RFC 9113 section 7), carried by
// RST_STREAM and GOAWAY frames.
type ErrCode uint32

// The error codes of RFC 9113 section 7.
const (
	ErrCodeNo                 ErrCode = 0x0 // NO_ERROR: graceful shutdown or early response
	ErrCodeProtocol           ErrCode = 0x1 // PROTOCOL_ERROR: unspecific protocol violation
	ErrCodeInternal           ErrCode = 0x2 // INTERNAL_ERROR: unexpected internal error
	ErrCodeFlowControl        ErrCode = 0x3 // FLOW_CONTROL_ERROR: flow-control violation
	ErrCodeSettingsTimeout    ErrCode = 0x4 // SETTINGS_TIMEOUT: SETTINGS not acknowledged in time
	ErrCodeStreamClosed       ErrCode = 0x5 // STREAM_CLOSED: frame received on a closed stream
	ErrCodeFrameSize          ErrCode = 0x6 // FRAME_SIZE_ERROR: frame with an invalid size
	ErrCodeRefusedStream      ErrCode = 0x7 // REFUSED_STREAM: stream not processed, safe to retry
	ErrCodeCancel             ErrCode = 0x8 // CANCEL: stream no longer needed
	ErrCodeCompression        ErrCode = 0x9 // COMPRESSION_ERROR: HPACK state lost
	ErrCodeConnect            ErrCode = 0xa // CONNECT_ERROR: CONNECT tunnel reset
	ErrCodeEnhanceYourCalm    ErrCode = 0xb // ENHANCE_YOUR_CALM: peer generates excessive load
	ErrCodeInadequateSecurity ErrCode = 0xc // INADEQUATE_SECURITY: TLS requirements not met
	ErrCodeHTTP11Required     ErrCode = 0xd // HTTP_1_1_REQUIRED: use HTTP/1.1 instead
)

var errCodeNames = [...]string{ //nolint:gochecknoglobals // read-only
	ErrCodeNo:                 "NO_ERROR",
	ErrCodeProtocol:           "PROTOCOL_ERROR",
	ErrCodeInternal:           "INTERNAL_ERROR",
	ErrCodeFlowControl:        "FLOW_CONTROL_ERROR",
	ErrCodeSettingsTimeout:    "SETTINGS_TIMEOUT",
	ErrCodeStreamClosed:       "STREAM_CLOSED",
	ErrCodeFrameSize:          "FRAME_SIZE_ERROR",
	ErrCodeRefusedStream:      "REFUSED_STREAM",
	ErrCodeCancel:             "CANCEL",
	ErrCodeCompression:        "COMPRESSION_ERROR",
	ErrCodeConnect:            "CONNECT_ERROR",
	ErrCodeEnhanceYourCalm:    "ENHANCE_YOUR_CALM",
	ErrCodeInadequateSecurity: "INADEQUATE_SECURITY",
	ErrCodeHTTP11Required:     "HTTP_1_1_REQUIRED",
}

// String returns the RFC name of the code, or "unknown error code 0x.." for
// codes outside the registry (which peers may send and must be accepted).
func (e ErrCode) String() string {
	if int(e) < len(errCodeNames) {
		return errCodeNames[e]
	}
	return "unknown error code 0x" + strconv.FormatUint(uint64(e), 16)
}

// ConnError is a connection error (RFC 9113 5.4.1) detected by Feed. By the
// time it is returned, a GOAWAY carrying Code has been queued in the output;
// the caller writes Out and closes the connection. Reason is a short,
// constant description that is also sent as the GOAWAY debug data.
type ConnError struct {
	Code   ErrCode
	Reason string
}

// Error implements error.
func (e *ConnError) Error() string {
	return "http2: connection error " + e.Code.String() + ": " + e.Reason
}
