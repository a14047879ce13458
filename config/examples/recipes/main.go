// An ordinary Go HTTP server: it binds its own port (net.Listen("tcp", ":"+PORT)); clusterd's
// socket adoption hands each worker the master's socket instead (docs/adoption.md).
//
// The drain recipe (docs/recipes.md#go), as for Node: on SIGTERM, every answer says
// `Connection: close`, the listener is closed (no new connection), and the process exits once
// its last connection has ended. http.Server.Shutdown would close the idle keep-alive
// connections at once, racing a request a client may be sending on one right now.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	open, draining := 0, false
	drained := make(chan struct{})
	var once sync.Once
	done := func() { once.Do(func() { close(drained) }) }
	pid := fmt.Sprint(os.Getpid())
	srv := &http.Server{
		IdleTimeout: 5 * time.Second, // an idle keep-alive connection ends after this
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			if draining {
				w.Header().Set("Connection", "close")
			}
			mu.Unlock()
			w.Header().Set("X-Worker", pid)
			fmt.Fprintln(w, "hello from", pid)
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			switch s {
			case http.StateNew:
				open++
			case http.StateClosed, http.StateHijacked:
				open--
				if draining && open == 0 {
					done()
				}
			}
		},
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	go func() {
		<-stop
		mu.Lock()
		draining = true
		if open == 0 {
			done()
		}
		mu.Unlock()
		ln.Close() // Serve returns; the connections it has go on
	}()
	err = srv.Serve(ln)
	mu.Lock()
	stopped := draining
	mu.Unlock()
	if !stopped {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	<-drained
}
