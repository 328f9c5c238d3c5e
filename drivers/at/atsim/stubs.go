package atsim

func newUBlox(m *Modem) dialect { return newQuectel(m) }
