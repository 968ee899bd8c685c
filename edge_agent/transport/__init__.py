"""MQTT transport: topic names (topics.py), the paho link (mqtt.py), splitting and reassembly (parts.py)."""
