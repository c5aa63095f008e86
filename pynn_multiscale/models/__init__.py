"""TVB model variants paired with spiking region builders."""
