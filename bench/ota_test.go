package bench

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/features/ota"
	"github.com/iotd/iotd/internal/hubtest"
)

// otaFileSize is the firmware size downloaded per iteration.
const otaFileSize = 16 << 20

// BenchmarkOTADownload downloads the same 16 MiB firmware from the same
// hubsim HTTPS server through iotd's OTA downloader (posix tcp driver, TLS
// in the transport, fsync + atomic checkpoint every CheckpointEvery bytes,
// MD5 check) and with curl, alternately in each iteration. Metrics:
// "iotd-MiB/s", "curl-MiB/s" and "iotd/curl-ratio". On loopback the disk,
// not the network, bounds iotd: every checkpoint costs an fsync of the
// partial file and an atomic checkpoint write, so the ratio is shown for
// several checkpoint intervals (features.ota.checkpoint_every).
// "checkpoint-cost-%" is the share of iotd's download time that its
// checkpoints cost: the same download without them is timed too.
func BenchmarkOTADownload(b *testing.B) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		b.Skip("curl is not installed; the comparison needs it")
	}
	hub := hubtest.StartHub(b, nil)
	data := make([]byte, otaFileSize)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	sum := md5.Sum(data)
	fw, err := hub.OTA().Upload("", "9.0.0", data)
	if err != nil {
		b.Fatal(err)
	}
	pem, err := os.ReadFile(hub.CAFile())
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	reg := core.NewRegistry()
	if err := reg.Register(posix.NewTCP()); err != nil {
		b.Fatal(err)
	}
	tr, err := reg.HTTPTransport("tcp", nil, &tls.Config{RootCAs: pool})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.CloseIdleConnections()

	for _, every := range []int{ota.DefaultCheckpointEvery, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("checkpoint=%dKiB", every>>10), func(b *testing.B) {
			dl := &ota.Downloader{Client: &http.Client{Transport: tr}, CheckpointEvery: every}
			dir := b.TempDir()
			// noCheckpoints downloads, verifies and fsyncs the same way, in
			// the same blocks, but its checkpoints save nothing: the
			// difference is what saving them costs.
			noCheckpoints := &ota.Downloader{Client: &http.Client{Transport: tr}, CheckpointEvery: every}
			var iotdTime, curlTime, bareTime time.Duration
			b.SetBytes(otaFileSize)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				part := filepath.Join(dir, fmt.Sprintf("fw-%d.part", i))
				cp := &ota.Checkpoint{Version: "9.0.0", URL: fw.URL, MD5: hex.EncodeToString(sum[:]), Size: otaFileSize, Partial: part}
				start := time.Now()
				cps := ota.NewCheckpointer(dir)
				err := dl.Download(context.Background(), cp, cps.Save, nil)
				_ = cps.Close()
				iotdTime += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				out := filepath.Join(dir, fmt.Sprintf("curl-%d.bin", i))
				start = time.Now()
				if msg, err := exec.Command(curl, "-sS", "--fail", "--cacert", hub.CAFile(), "-o", out, fw.URL).CombinedOutput(); err != nil {
					b.Fatalf("curl: %v: %s", err, msg)
				}
				curlTime += time.Since(start)

				// The same download without checkpoints: what they cost.
				bare := filepath.Join(dir, fmt.Sprintf("bare-%d.part", i))
				cp = &ota.Checkpoint{Version: "9.0.0", URL: fw.URL, MD5: hex.EncodeToString(sum[:]), Size: otaFileSize, Partial: bare}
				start = time.Now()
				err = noCheckpoints.Download(context.Background(), cp, func(*ota.Checkpoint) error { return nil }, nil)
				bareTime += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = os.Remove(part)
				_ = os.Remove(out)
				_ = os.Remove(bare)
				b.StartTimer()
			}
			mib := float64(b.N) * otaFileSize / (1 << 20)
			b.ReportMetric(mib/iotdTime.Seconds(), "iotd-MiB/s")
			b.ReportMetric(mib/curlTime.Seconds(), "curl-MiB/s")
			b.ReportMetric(curlTime.Seconds()/iotdTime.Seconds(), "iotd/curl-ratio")
			b.ReportMetric(100*(iotdTime.Seconds()-bareTime.Seconds())/iotdTime.Seconds(), "checkpoint-cost-%")
		})
	}
}
