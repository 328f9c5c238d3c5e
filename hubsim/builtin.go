package hubsim

// builtins are the constructors of the services every hub runs, in start
// order. Each service file adds its own in an init function, so services
// stay one concept per file. Only constructors live here, never state.
var builtins = []func() Service{func() Service { return timeService{} }}

// registerBuiltin adds a service every hub runs. Call it from init only.
func registerBuiltin(newService func() Service) { builtins = append(builtins, newService) }

// builtinServices returns fresh instances of the built-in services.
func builtinServices() []Service {
	out := make([]Service, 0, len(builtins))
	for _, f := range builtins {
		out = append(out, f())
	}
	return out
}
