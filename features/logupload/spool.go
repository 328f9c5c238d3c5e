package logupload

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/iotd/iotd/internal/pki"
)

const spoolSuffix = ".logbatch"

// spool keeps batches that could not be sent, oldest first, bounded in
// bytes and count; with a directory each batch is also a file there, so
// they survive a restart. It is used by the upload loop only.
type spool struct {
	dir              string
	maxBytes, maxLen int
	batches          []batch
	bytes            int
	seq              uint64
	dropped          int64 // batches dropped to stay within bounds
	droppedLines     int64
	errs             int64 // disk errors (the batch is then kept in memory)
}

type batch struct {
	name  string // file name in dir, "" when memory only
	lines []byte
}

func openSpool(dir string, maxBytes, maxLen int) (*spool, error) {
	s := &spool{dir: dir, maxBytes: maxBytes, maxLen: maxLen}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("logupload: spool: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("logupload: spool: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), spoolSuffix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names) // zero-padded sequence numbers: oldest first
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			s.errs++
			continue
		}
		if seq, err := strconv.ParseUint(strings.TrimSuffix(n, spoolSuffix), 10, 64); err == nil && seq >= s.seq {
			s.seq = seq + 1
		}
		s.batches = append(s.batches, batch{name: n, lines: data})
		s.bytes += len(data)
	}
	s.trim()
	return s, nil
}

// push keeps lines as the newest batch.
func (s *spool) push(lines []byte) {
	if len(lines) == 0 {
		return
	}
	b := batch{lines: lines}
	if s.dir != "" {
		b.name = fmt.Sprintf("%020d%s", s.seq, spoolSuffix)
		s.seq++
		if err := pki.WriteFileAtomic(filepath.Join(s.dir, b.name), lines, 0o600); err != nil {
			s.errs++
			b.name = ""
		}
	}
	s.batches = append(s.batches, b)
	s.bytes += len(lines)
	s.trim()
}

// trim drops the oldest batches beyond the bounds.
func (s *spool) trim() {
	for len(s.batches) > 0 && (s.bytes > s.maxBytes || len(s.batches) > s.maxLen) {
		s.dropped++
		s.droppedLines += int64(strings.Count(string(s.batches[0].lines), Delimiter))
		s.remove()
	}
}

// remove drops the oldest batch (sent or dropped).
func (s *spool) remove() {
	b := s.batches[0]
	s.batches = s.batches[1:]
	s.bytes -= len(b.lines)
	if b.name != "" {
		if err := os.Remove(filepath.Join(s.dir, b.name)); err != nil && !os.IsNotExist(err) {
			s.errs++
		}
	}
}
