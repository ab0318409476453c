package bridge_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// encryptedEncoding marks a payload encrypted by aesCodec.
const encryptedEncoding = "binary/encrypted"

// aesCodec encrypts whole payloads with AES-GCM, in the shape of the SDK samples'
// encryption codec: the payload is marshalled, sealed, and wrapped in a payload of
// encoding binary/encrypted.
type aesCodec struct{ aead cipher.AEAD }

func newAESCodec(t *testing.T) *aesCodec {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	aead, err := cipher.NewGCM(block)
	require.NoError(t, err)
	return &aesCodec{aead: aead}
}

func (c *aesCodec) Encode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(ps))
	for i, p := range ps {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, c.aead.NonceSize())
		_, _ = rand.Read(nonce)
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(encryptedEncoding)},
			Data:     c.aead.Seal(nonce, nonce, plain, nil),
		}
	}
	return out, nil
}

func (c *aesCodec) Decode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(ps))
	for i, p := range ps {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != encryptedEncoding {
			out[i] = p
			continue
		}
		n := c.aead.NonceSize()
		if len(p.Data) < n {
			return nil, errors.New("encrypted payload too short")
		}
		plain, err := c.aead.Open(nil, p.Data[:n], p.Data[n:], nil)
		if err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{}
		if err := proto.Unmarshal(plain, out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// flakyCodec counts its Encode calls, and fails the next one when failNext is set, as an
// unreachable codec server or key service would.
type flakyCodec struct {
	converter.PayloadCodec
	failNext atomic.Bool
	encodes  atomic.Int64
}

func (c *flakyCodec) Encode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	c.encodes.Add(1)
	if c.failNext.CompareAndSwap(true, false) {
		return nil, errors.New("key service unavailable")
	}
	return c.PayloadCodec.Encode(ps)
}

// With PayloadCodecs, the bridge sends workflow input, memo and signal arguments encoded
// by the codecs: Temporal stores only ciphertext, and a worker with the same codec reads
// them. A codec that fails is a transient error: the event is retried, not dead-lettered.
func TestBridgeEncodesPayloadsWithTheCodecs(t *testing.T) {
	h := newHarness(t)
	codec := newAESCodec(t)
	// The worker's client decodes with the same codec, as a team running encrypted
	// workflows configures it.
	cc, err := client.NewClientFromExisting(h.temporal, client.Options{
		DataConverter: converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), codec),
	})
	require.NoError(t, err)
	t.Cleanup(cc.Close)
	queue := testenv.ID("codec-")
	w := worker.New(cc, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(RecordSignals, workflow.RegisterOptions{Name: "RecordSignals"})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	h.routes, err = routing.Parse([]byte(fmt.Sprintf(`
routes:
  - name: start-recorder
    events: [test.start]
    action: start
    workflow: RecordSignals
    task_queue: %[1]s
    id: 'codec-{{ .data.key }}'
    memo: {origin: '{{ .source }}'}
    run_timeout: 1h
    input: map
    input_map: {key: 'data.key'}
  - name: note
    events: [test.note]
    action: signal
    signal: note
    id: 'codec-{{ .data.key }}'
  - name: note-or-start
    events: [test.swstart]
    action: signal_with_start
    workflow: RecordSignals
    task_queue: %[1]s
    signal: note
    id: 'codec-{{ .data.key }}'
    input: data
`, queue)), "codec routes")
	require.NoError(t, err)
	h.schemas = withTestTypes(t)
	bridgeCodec := &flakyCodec{PayloadCodec: codec}
	rb := h.startBridge(h.temporal, bridge.Config{PayloadCodecs: []converter.PayloadCodec{bridgeCodec}})

	key, other := testenv.ID("secret-key-"), testenv.ID("secret-other-")
	start, note, swstart := testenv.ID("evt-start-"), testenv.ID("evt-note-"), testenv.ID("evt-sws-")
	bridgeCodec.failNext.Store(true) // the first event's first delivery finds the codec down
	h.publishBinary(newEvent(t, start, "test.start", map[string]string{"key": key}))
	testenv.Eventually(t, 10*time.Second, func() bool { return h.status("codec-"+key) == enums.WORKFLOW_EXECUTION_STATUS_RUNNING },
		"the start was not retried after the codec failed")
	first := rb.recorder.byEvent(start)[0]
	require.Equal(t, bridge.OutcomeRetried, first.Outcome, "a codec failure: got %s, want %s (%s)", first.Outcome, bridge.OutcomeRetried, first.Error)
	require.Contains(t, first.Error, "payload codec: key service unavailable")

	h.publishBinary(newEvent(t, note, "test.note", map[string]string{"key": key}))
	h.publishBinary(newEvent(t, swstart, "test.swstart", map[string]string{"key": other}))
	h.consumerSettled(20 * time.Second)
	require.Empty(t, h.dlq(), "nothing is dead-lettered")

	// The worker decoded the input and the signals.
	state := func(id string) recorderState {
		v, err := cc.QueryWorkflow(context.Background(), id, "", "state")
		require.NoError(t, err)
		var st recorderState
		require.NoError(t, v.Get(&st))
		return st
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return len(state("codec-"+key).Notes) == 1 }, "the note signal did not reach the workflow")
	st := state("codec-" + key)
	require.Equal(t, map[string]any{"key": key}, st.Input, "input: got %v", st.Input)
	require.Equal(t, []string{note}, st.Notes)
	testenv.Eventually(t, 10*time.Second, func() bool { return len(state("codec-"+other).Notes) == 1 }, "signal-with-start did not reach the workflow")
	require.Equal(t, []string{swstart}, state("codec-"+other).Notes)

	// Temporal holds only ciphertext: input, memo and signal arguments, never the key.
	for _, id := range []string{"codec-" + key, "codec-" + other} {
		var payloads []*commonpb.Payload
		it := h.temporal.GetWorkflowHistory(context.Background(), id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			require.NoError(t, err)
			if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
				payloads = append(payloads, a.GetInput().GetPayloads()...)
				for _, p := range a.GetMemo().GetFields() {
					payloads = append(payloads, p)
				}
			}
			if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil {
				payloads = append(payloads, a.GetInput().GetPayloads()...)
			}
		}
		require.NotEmpty(t, payloads, "%s: no payloads in its history", id)
		for _, p := range payloads {
			require.Equal(t, encryptedEncoding, string(p.GetMetadata()[converter.MetadataEncoding]), "%s: a payload Temporal stores is not encrypted", id)
			require.False(t, strings.Contains(string(p.GetData()), "secret-"), "%s: a payload shows the event's data", id)
		}
	}
	// One Encode call per delivery carries all of its payloads: start (2 deliveries), note, signal-with-start.
	require.Equal(t, int64(4), bridgeCodec.encodes.Load(), "codec calls: got %d, want one per delivery", bridgeCodec.encodes.Load())
}
