package flowbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
)

// ingressResult is how the Stripe webhook answered.
type ingressResult struct {
	accepted int64
	rate     float64
	refused  int64
	firstBad string
}

// stripeWebhooks posts signed customer.created webhooks (no Stripe API lookup) to the
// bridge over conns keep-alive connections for d and counts the 202s.
func stripeWebhooks(ctx context.Context, httpAddr, prefix string, conns int, d time.Duration, progress func(string, ...any)) (ingressResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	url := "http://" + httpAddr + "/webhooks/stripe"
	var (
		next, accepted, refused atomic.Int64
		badOnce                 sync.Once
		firstBad                string
		wg                      sync.WaitGroup
	)
	begin := time.Now()
	stopAt := begin.Add(d)
	for range conns {
		wg.Go(func() {
			for time.Now().Before(stopAt) && ctx.Err() == nil {
				i := next.Add(1)
				body, _ := json.Marshal(map[string]any{
					"id": fmt.Sprintf("evt_%s%d", prefix, i), "object": "event", "type": "customer.created",
					"created": time.Now().Unix(), "api_version": "2025-01-27",
					"data": map[string]any{"object": map[string]any{
						"id": fmt.Sprintf("cus_%s%d", prefix, i), "object": "customer", "email": fmt.Sprintf("c%d@example.com", i),
					}},
				})
				signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: stripeSecret, Timestamp: time.Now()})
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Stripe-Signature", signed.Header)
				resp, err := hc.Do(req)
				if err != nil {
					refused.Add(1)
					badOnce.Do(func() { firstBad = err.Error() })
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					accepted.Add(1)
					continue
				}
				refused.Add(1)
				badOnce.Do(func() { firstBad = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(b)) })
			}
		})
	}
	stop := ticker(5*time.Second, func() {
		progress("  ingress: %d answered 202 in %.0fs", accepted.Load(), time.Since(begin).Seconds())
	})
	wg.Wait()
	stop()
	elapsed := time.Since(begin)
	return ingressResult{accepted: accepted.Load(), rate: float64(accepted.Load()) / elapsed.Seconds(), refused: refused.Load(), firstBad: firstBad}, ctx.Err()
}
