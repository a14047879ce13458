// An ordinary Go HTTP server: it binds its own port (net.Listen("tcp", ":"+PORT)); clusterd's
// socket adoption hands each worker the master's socket instead (docs/adoption.md).
//
// Drain (docs/recipes.md#go): on SIGTERM, http.Server.Shutdown stops accepting, closes idle
// keep-alive connections and waits for the requests in flight.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
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
	pid := fmt.Sprint(os.Getpid())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Worker", pid)
		fmt.Fprintln(w, "hello from", pid)
	})}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		<-stop
		srv.Shutdown(context.Background())
		close(done)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	<-done
}
