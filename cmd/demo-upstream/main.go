// Command demo-upstream is the small origin server `make run` puts behind
// ferry: it answers every request with what it received, so a curl through
// ferry shows the proxy's work (X-Forwarded-For, Host, the path).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"sort"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	flag.Parse()
	srv := &http.Server{Addr: *addr, Handler: http.HandlerFunc(echo), ReadHeaderTimeout: 10 * time.Second}
	log.Printf("demo-upstream: listening on %s", *addr)
	log.Fatal(srv.ListenAndServe())
}

func echo(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "hello from the demo upstream behind ferry\n\n%s %s %s\nHost: %s\n", r.Method, r.RequestURI, r.Proto, r.Host)
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintf(w, "\nbody: %d bytes\n", n)
}
