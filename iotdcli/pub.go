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
	var lines linesOptions
	c := &cobra.Command{
		Use:   "pub TOPIC MESSAGE | pub --lines [--topic T] [--json]",
		Short: "Publish MESSAGE on TOPIC through the daemon (MESSAGE '-' reads stdin; --lines: one message per line)",
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
and survives a restart of iotd or a power cut.

With --lines, stdin is read line by line and every line is a message, sent
through one streaming connection (POST /v1/publish/stream) without waiting
for each acknowledgement: many messages are in flight at once, and the hub
gets them in the order of the lines.
  plain (default)  each line is the payload of a message on --topic, at --qos
  --json           each line is a request object:
                     {"topic":"event","payload":"text","qos":1,"id":"a1"}
                   with payload_base64 instead of payload for binary data,
                   and optionally "no_wait":true; topic and qos default to
                   --topic and --qos, id is echoed in the result
Empty lines are skipped; a line is at most 1 MiB. One result is printed per
message as it is known (acknowledgements come in order, a refusal at once):
  line N: acknowledged TOPIC [id]
  line N: refused: REASON [id]
With --quiet only the failures are printed. A summary goes to stderr (count,
acknowledged, stored, refused, not sent, messages per second). The exit
status is 1 when any message was refused or not sent, or a line was bad.
--timeout does not apply: the messages wait while the stream lasts; an
interrupt (Ctrl-C) withdraws those not yet sent.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if lines.on {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if lines.on {
				if cmd.Flags().Changed("timeout") {
					return errors.New("--timeout does not apply to --lines")
				}
				lines.qos, lines.noWait = qos, noWait
				return pubLines(cmd, api(), lines)
			}
			if lines.json || lines.topic != "" || lines.quiet {
				return errors.New("--json, --topic and --quiet go with --lines")
			}
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
	c.Flags().BoolVar(&lines.on, "lines", false, "publish each line of stdin as a message, through one stream")
	c.Flags().StringVar(&lines.topic, "topic", "", "with --lines: the topic of the messages (with --json: of those that name none)")
	c.Flags().BoolVar(&lines.json, "json", false, "with --lines: each line is a request object (topic, payload or payload_base64, qos, no_wait, id)")
	c.Flags().BoolVar(&lines.quiet, "quiet", false, "with --lines: print only the messages refused or not sent")
	return c
}
