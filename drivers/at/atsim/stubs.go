package atsim

func newSIMCom(m *Modem) dialect { return newQuectel(m) }
func newUBlox(m *Modem) dialect  { return newQuectel(m) }
