import streamlit as st


def render_model_admin(user):
    st.write("model")
