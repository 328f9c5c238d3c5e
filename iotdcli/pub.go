package iotdcli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/localapi"
)

func pubCmd(api func() *localapi.Client) *cobra.Command {
	var qos int
	var timeout time.Duration
	var noWait bool
	c := &cobra.Command{
		Use:   "pub TOPIC MESSAGE",
		Short: "Publish MESSAGE on TOPIC through the daemon (MESSAGE '-' reads stdin)",
		Long: `Publish MESSAGE on TOPIC through the daemon and wait for the hub's
acknowledgement (QoS 1) or for the message to be written (QoS 0).

The answer is one of:
  acknowledged  the hub has it (exit 0)
  stored        queued and on its way; with --no-wait, or when --timeout passed
                while the message was already on the wire (exit 0: do not
                publish it again, it will be sent)
  refused       it will never be sent: too large, queue full, ... (exit 1)
  not sent      withdrawn when --timeout passed before it went out (exit 1: it
                is safe to publish it again)

With the outbox on (the default), a QoS 1 message reported stored is on disk
and survives a restart of iotd or a power cut.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			msg := args[1]
			if msg == "-" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), localapi.MaxRequestBody+1))
				if err != nil {
					return err
				}
				if len(b) > localapi.MaxRequestBody {
					return fmt.Errorf("stdin holds more than %d bytes, the local API's limit; nothing was published", localapi.MaxRequestBody)
				}
				msg = string(b)
			}
			req := localapi.PublishRequest{Topic: args[0], Payload: msg, QoS: qos, NoWait: noWait, Timeout: timeout.Milliseconds()}
			// The daemon answers within timeout (withdrawing what did not
			// go out); the margin covers its answer.
			ctx, cancel := contextWithTimeout(cmd, timeout+10*time.Second)
			defer cancel()
			rep, err := api().Publish(ctx, req)
			var pe *localapi.PublishError
			if errors.As(err, &pe) {
				return fmt.Errorf("%s %d bytes for %s: %w", pe.Result, len(msg), rep.Topic, err)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case rep.Result == localapi.Acknowledged && qos == 1:
				fmt.Fprintf(out, "published %d bytes to %s (qos 1, acknowledged)\n", len(msg), rep.Topic)
			case rep.Result == localapi.Acknowledged:
				fmt.Fprintf(out, "published %d bytes to %s (qos 0, sent)\n", len(msg), rep.Topic)
			case noWait:
				fmt.Fprintf(out, "stored %d bytes for %s (qos %d); it will be sent when the hub is reachable\n", len(msg), rep.Topic, qos)
			default:
				fmt.Fprintf(out, "stored %d bytes for %s (qos %d): not acknowledged within %s, but already on its way; it will be sent, do not publish it again\n",
					len(msg), rep.Topic, qos, timeout)
			}
			return nil
		},
	}
	c.Flags().IntVarP(&qos, "qos", "q", 0, "QoS 0 or 1")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "wait at most this long for the acknowledgement; a message not sent by then is withdrawn")
	c.Flags().BoolVar(&noWait, "no-wait", false, "return as soon as the message is stored (QoS 1: on disk with the outbox on)")
	return c
}
