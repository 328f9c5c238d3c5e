package feature

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRegistry(t *testing.T) {
	useRegistry(t, testModule("zulu", Needs{}), offModule("alpha"), testModule("mike", Needs{Downlink: true}))
	var names []string
	for _, m := range Modules() {
		names = append(names, m.Name)
	}
	assert.Equal(t, []string{"alpha", "mike", "zulu"}, names, "sorted by name")

	m, ok := Lookup("mike")
	assert.True(t, ok)
	assert.Equal(t, Needs{Downlink: true}, m.Needs)
	_, ok = Lookup("nosuch")
	assert.False(t, ok)

	// Modules returns a copy: changing it changes no registry.
	mods := Modules()
	mods[0].Name = "changed"
	assert.Equal(t, "alpha", Modules()[0].Name)
}

func TestRegisterTwicePanics(t *testing.T) {
	useRegistry(t, testModule("alpha", Needs{}))
	assert.PanicsWithValue(t, "feature: Register called twice for alpha", func() { Register(offModule("alpha")) })
	assert.Len(t, Modules(), 1)
}

func TestRegisterRefusesIncompleteModules(t *testing.T) {
	useRegistry(t)
	ok := testModule("ok", Needs{})
	for name, m := range map[string]Module{
		"no name":       {Config: ok.Config, New: ok.New},
		"upper case":    {Name: "Shadow", Config: ok.Config, New: ok.New},
		"a dash":        {Name: "sub-device", Config: ok.Config, New: ok.New},
		"a digit first": {Name: "2fa", Config: ok.Config, New: ok.New},
		"no Config":     {Name: "x", New: ok.New},
		"no New":        {Name: "x", Config: ok.Config},
	} {
		assert.PanicsWithValue(t, `feature: Register("`+m.Name+`"): a module needs a lowercase name, Config and New`,
			func() { Register(m) }, name)
	}
	assert.Empty(t, Modules())
	Register(Module{Name: "sub_device_ota2", Config: ok.Config, New: ok.New})
	assert.Len(t, Modules(), 1)
}

// useRegistry leaves the package's registry as it found it.
func TestUseRegistryRestores(t *testing.T) {
	before := Modules()
	t.Run("inner", func(t *testing.T) {
		useRegistry(t, testModule("throwaway", Needs{}))
		assert.Len(t, Modules(), 1)
	})
	assert.Equal(t, before, Modules())
	_, ok := Lookup("throwaway")
	assert.False(t, ok)
}
