package sdk

import (
	"sync"

	"github.com/iotd/iotd/plugins/internal/wire"
	pb "github.com/iotd/iotd/plugins/proto"
)

// writeQueue holds the host's Write, CloseWrite and Close frames until the
// writer performs them. It is bounded by the host's write window, not by a
// frame count: the receiving goroutine must never block on it, or read
// credit would stop too and an echoing peer could deadlock the connection.
type writeQueue struct {
	mu     sync.Mutex // guards frames
	frames []*pb.HostFrame
	more   chan struct{} // a token when frames grew
}

func newWriteQueue() *writeQueue { return &writeQueue{more: make(chan struct{}, 1)} }

func (q *writeQueue) push(f *pb.HostFrame) {
	q.mu.Lock()
	q.frames = append(q.frames, f)
	q.mu.Unlock()
	select {
	case q.more <- struct{}{}:
	default:
	}
}

// pop returns the next frame and whether more are queued behind it; nil
// once done is closed.
func (q *writeQueue) pop(done <-chan struct{}) (*pb.HostFrame, bool) {
	for {
		q.mu.Lock()
		if len(q.frames) > 0 {
			f := q.frames[0]
			q.frames[0] = nil
			q.frames = q.frames[1:]
			more := len(q.frames) > 0
			q.mu.Unlock()
			return f, more
		}
		q.mu.Unlock()
		select {
		case <-q.more:
		case <-done:
			return nil, false
		}
	}
}

// writeLoop performs the host's writes in order.
//
// Stream data and windowed datagrams (op 0) are not acknowledged: their
// cost goes back to the host as WriteCredit once the Conn's Write has
// taken them, in batches of a quarter window or whenever the queue runs
// empty. A failed stream Write is reported once, in the credit frame, and
// the stream data queued after it is dropped (its credit still returned).
// A windowed datagram's error is reported the same way but does not stop
// later datagrams, unless it is final. Acknowledged datagrams (op > 0) get
// a WriteAck each, as in protocol version 1.
func (p *pump) writeLoop() {
	var werr error // the stream's write error; data after it is dropped
	var credit int64
	flush := func(err error, drained bool) bool {
		if credit == 0 && err == nil && !drained {
			return true
		}
		wc := &pb.WriteCredit{Bytes: credit, Error: wire.EncodeError(err), Drained: drained}
		credit = 0
		return p.send(&pb.PluginFrame{Frame: &pb.PluginFrame_WriteCredit{WriteCredit: wc}}) == nil
	}
	var failed uint64 // the op of the failed acknowledged datagram
	var op uint64
	var total int64
	for {
		f, more := p.wq.pop(p.done)
		if f == nil {
			return
		}
		switch fr := f.Frame.(type) {
		case *pb.HostFrame_Close:
			flush(nil, true)
			close(p.drained)
			return
		case *pb.HostFrame_CloseWrite:
			if !flush(nil, false) {
				return
			}
			err := werr
			if err == nil {
				err = closeWrite(p.conn)
			}
			if p.send(&pb.PluginFrame{Frame: &pb.PluginFrame_CloseWriteResult{CloseWriteResult: &pb.CloseWriteResult{Error: wire.EncodeError(err)}}}) != nil {
				return
			}
		case *pb.HostFrame_Write:
			w := fr.Write
			if w.Op != 0 { // an acknowledged datagram
				if w.Op == failed {
					continue
				}
				if w.Op != op {
					op, total = w.Op, 0
				}
				n, err := p.conn.Write(w.Data)
				total += int64(n)
				if err == nil && !w.Last {
					continue
				}
				if err != nil {
					failed = w.Op
				}
				ack := &pb.WriteAck{Op: w.Op, N: total, Error: wire.EncodeError(err)}
				if p.send(&pb.PluginFrame{Frame: &pb.PluginFrame_WriteAck{WriteAck: ack}}) != nil {
					return
				}
				continue
			}
			if !p.datagram {
				if !p.writeStream(w.Data, &credit, &werr, more, flush) {
					return
				}
				continue
			}
			// A windowed datagram: one Write, never split.
			credit += int64(len(w.Data)) + 1
			var err error
			if werr == nil {
				_, err = p.conn.Write(w.Data)
			}
			if err != nil && p.abandoned.Load() {
				return // Close gave up on the queue and closed the Conn
			}
			if err != nil && wire.IsFinal(err) {
				werr = err
			}
			if err != nil || !more || credit >= wire.WriteWindow/4 || p.closing.Load() {
				if !flush(err, false) {
					return
				}
			}
		}
	}
}

// writeStream writes one frame of stream data, counting its bytes as
// credit. Once the host's Close is queued it writes in pieces of
// wire.DrainPiece and returns the credit of each, so that the host sees
// that a slow link is still moving. false: stop the writer.
func (p *pump) writeStream(data []byte, credit *int64, werr *error, more bool, flush func(error, bool) bool) bool {
	for len(data) > 0 {
		piece := data
		closing := p.closing.Load()
		if closing {
			piece = data[:min(len(data), wire.DrainPiece)]
		}
		data = data[len(piece):]
		*credit += int64(len(piece))
		if *werr != nil {
			continue // dropped after an error; the credit still goes back
		}
		_, err := p.conn.Write(piece)
		if err != nil && p.abandoned.Load() {
			return false // Close gave up on the queue and closed the Conn
		}
		if err != nil {
			*werr = err
		}
		if err != nil || closing || (len(data) == 0 && !more) || *credit >= wire.WriteWindow/4 {
			if !flush(err, false) {
				return false
			}
		}
	}
	return true
}
