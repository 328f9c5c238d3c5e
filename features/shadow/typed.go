package shadow

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// ShadowAPI returns the device's own shadow as package device offers it
// (feature.ShadowProvider).
func (m *module) ShadowAPI() feature.ShadowAPI { return goAPI{m.own} }

var _ feature.ShadowProvider = (*module)(nil)

// goAPI is a Shadow as a feature.ShadowAPI: localapi's wire types.
type goAPI struct{ s *Shadow }

func (a goAPI) Get(ctx context.Context) (localapi.ShadowDocument, error) {
	return wire(a.s.Get(ctx))
}

func (a goAPI) Document() localapi.ShadowDocument { return documentToWire(a.s.Document()) }

func (a goAPI) Report(ctx context.Context, values map[string]json.RawMessage) (localapi.ShadowDocument, error) {
	return wire(a.s.Update(ctx, Update{Reported: reported(values)}))
}

func (a goAPI) ReportAndClearDesired(ctx context.Context, values map[string]json.RawMessage) (localapi.ShadowDocument, error) {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return wire(a.s.Update(ctx, Update{Reported: reported(values), ClearDesiredKeys: keys}))
}

func (a goAPI) ClearDesired(ctx context.Context) (localapi.ShadowDocument, error) {
	return wire(a.s.ClearDesired(ctx))
}

func (a goAPI) Watch(ctx context.Context) <-chan localapi.ShadowDelta {
	in := a.s.Watch(ctx)
	out := make(chan localapi.ShadowDelta, watchBuffer)
	go func() {
		defer close(out)
		for d := range in {
			select {
			case out <- localapi.ShadowDelta{State: d.State, Version: d.Version, Source: d.Source, Received: d.Received}:
			case <-ctx.Done():
				return // in closes once ctx ended
			}
		}
	}()
	return out
}

func reported(values map[string]json.RawMessage) map[string]any {
	out := make(map[string]any, len(values))
	for k, v := range values {
		out[k] = v
	}
	return out
}

func wire(d Document, err error) (localapi.ShadowDocument, error) {
	if err != nil {
		return localapi.ShadowDocument{}, err
	}
	return documentToWire(d), nil
}
