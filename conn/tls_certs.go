package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CertReloader serves a certificate to handshakes and reloads it when its
// files change: Check, run off the loop, compares the files' size and
// modification time with the last load and swaps in a new certificate
// atomically. Handshakes under way keep the one they took; established
// connections are not touched. A reload that fails keeps the old
// certificate (docs/tls.md, "Certificate reload").
type CertReloader struct {
	load  func() (*tls.Certificate, error)
	files []string
	cur   atomic.Pointer[tls.Certificate]
	seen  atomic.Pointer[string] // the files' stamp at the last load
	// Reloads counts certificates swapped in after the first.
	Reloads atomic.Uint64
}

// NewCertReloader loads the certificate once with load, which reads files
// (none for an inline PEM: nothing to watch).
func NewCertReloader(load func() (*tls.Certificate, error), files []string) (*CertReloader, error) {
	r := &CertReloader{load: load, files: files}
	if _, err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// GetCertificate is tls.Config.GetCertificate. Any goroutine.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// Current is the certificate handshakes get now. Any goroutine.
func (r *CertReloader) Current() *tls.Certificate { return r.cur.Load() }

// stamp sums up the files' identity: size and modification time.
func (r *CertReloader) stamp() (string, error) { return stampFiles(r.files) }

// stampFiles sums up files' identity: size and modification time.
func stampFiles(files []string) (string, error) {
	var b strings.Builder
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s:%d:%d;", f, st.Size(), st.ModTime().UnixNano())
	}
	return b.String(), nil
}

// reload loads the certificate and records the files' stamp.
func (r *CertReloader) reload() (bool, error) {
	before, err := r.stamp()
	if err != nil {
		return false, err
	}
	c, err := r.load()
	if err != nil {
		return false, err
	}
	r.cur.Store(c)
	r.seen.Store(&before)
	return true, nil
}

// Check reloads the certificate if its files changed since the last load.
// It reports whether it swapped one in; on error the old one stays. Any
// goroutine but one at a time (the watcher).
func (r *CertReloader) Check() (bool, error) {
	if len(r.files) == 0 {
		return false, nil
	}
	now, err := r.stamp()
	if err != nil {
		return false, err
	}
	if s := r.seen.Load(); s != nil && *s == now {
		return false, nil
	}
	ok, err := r.reload()
	if ok {
		r.Reloads.Add(1)
	}
	return ok, err
}

// FileChecker is what WatchFiles checks: something loaded from files,
// loaded again when they changed. CertReloader and FileWatch are.
type FileChecker interface {
	// Check loads again if the files changed since the last load; it
	// reports whether it did. On error the last load stays in use.
	Check() (bool, error)
}

// FileWatch calls a load function again when its files change: a
// cluster's CA, client certificate and key (docs/tls.md, "Upstream TLS").
// Check compares the files' size and modification time with those of the
// last successful load, as CertReloader's does. Any goroutine.
type FileWatch struct {
	files []string
	load  func() (bool, error)
	mu    sync.Mutex // one Check at a time: the watcher and a config reload
	seen  string     // the files' stamp at the last load; "" before the first
	// Loads counts the loads that put something new in use.
	Loads atomic.Uint64
}

// NewFileWatch watches files; load reads them again and puts what it read
// in use, reporting whether it differed from what was in use, or fails and
// leaves the last load in use. The first Check loads whatever the stamp
// says: the caller read the files before the watch could stamp them, and
// a change in between would otherwise go unseen until the next one. Nil
// when there are no files (inline PEM only): nothing to watch.
func NewFileWatch(files []string, load func() (bool, error)) *FileWatch {
	if len(files) == 0 {
		return nil
	}
	return &FileWatch{files: files, load: load}
}

// Check implements FileChecker. A load that fails is tried again at the
// next Check, until one succeeds.
func (w *FileWatch) Check() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st, err := stampFiles(w.files)
	if err != nil || st == w.seen {
		return false, err
	}
	changed, err := w.load()
	if err != nil {
		return false, err
	}
	w.seen = st
	if changed {
		w.Loads.Add(1)
	}
	return changed, nil
}

// WatchFiles checks what list returns every interval until ctx ends,
// telling onErr about a failed load (the last good one stays). list is
// asked at every tick, so that what a config reload adds is watched too.
// It is the one goroutine certificate reloads cost.
func WatchFiles(ctx context.Context, interval time.Duration, list func() []FileChecker, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, r := range list() {
			if _, err := r.Check(); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// SNIContext is one of a listener's TLS contexts (MOSN's tls_context_set):
// the handshake configuration it applies and the server names it answers.
type SNIContext struct {
	// Config is the context's configuration, its GetCertificate set.
	Config *tls.Config
	// Names are the server names it answers: exact ("a.example.com") or
	// a wildcard for one label ("*.example.com"), lower case.
	Names []string
}

// errNoContexts is SNIConfig's answer to no context at all.
var errNoContexts = errors.New("conn: a TLS listener needs a context")

// SNIConfig returns the configuration of a listener with contexts cs: the
// one context's own, or one that picks a context by the client's server
// name, the first when none matches (as MOSN does). Session tickets are
// shared by the contexts: crypto/tls takes the keys of the configuration
// that picks, which it generates and rotates itself.
func SNIConfig(cs []SNIContext) (*tls.Config, error) {
	switch len(cs) {
	case 0:
		return nil, errNoContexts
	case 1:
		return cs[0].Config, nil
	}
	base := cs[0].Config.Clone()
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		return cs[matchSNI(cs, hello.ServerName)].Config, nil
	}
	return base, nil
}

// matchSNI returns the index of the context answering name: an exact name
// first, then a wildcard for its first label, else 0.
func matchSNI(cs []SNIContext, name string) int {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if name == "" {
		return 0
	}
	wild := ""
	if i := strings.IndexByte(name, '.'); i > 0 {
		wild = "*" + name[i:]
	}
	for i, c := range cs {
		for _, n := range c.Names {
			if n == name {
				return i
			}
		}
	}
	if wild != "" {
		for i, c := range cs {
			for _, n := range c.Names {
				if n == wild {
					return i
				}
			}
		}
	}
	return 0
}
