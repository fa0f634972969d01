"""The browser app (Gradio): the Ask, Interview, Review and Library tabs."""
