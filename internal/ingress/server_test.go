package ingress_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

func TestServerMaxHeaderBytes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := ingress.New(ingress.Config{MaxHeaderBytes: 1 << 10}, testenv.Logger(t), prometheus.NewRegistry(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	url := "http://" + ln.Addr().String() + "/healthz"
	client := &http.Client{Timeout: 5 * time.Second}

	tests := []struct {
		name       string
		header     string
		wantStatus int
	}{
		{name: "small headers", header: "x", wantStatus: http.StatusOK},
		// net/http allows 4 KiB of slack over MaxHeaderBytes.
		{name: "headers over the limit", header: strings.Repeat("x", 16<<10), wantStatus: http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
			require.NoError(t, err)
			req.Header.Set("X-Padding", tt.header)
			res, err := client.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			require.Equal(t, tt.wantStatus, res.StatusCode, "status: got %d, want %d", res.StatusCode, tt.wantStatus)
		})
	}
}
