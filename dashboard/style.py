"""Shared plot styling: harmful and benign keep the same colours on every page."""

from __future__ import annotations

LABEL_COLORS = {"harmful": "#D62728", "benign": "#1F77B4"}
SELECTED_COLOR = "#FF7F0E"
MUTED_COLOR = "#B0B0B0"
#: One colour per method, none shared with another method or with the harmful / benign / selected colours.
METHOD_COLORS = {
    "vanilla": "#7F7F7F", "rrs": "#2CA02C", "rrs+sarsteer": "#17BECF", "sarsteer": "#9467BD", "steer": "#E377C2",
    "sft-full": "#8C564B", "sft-shallow-mirror": "#BCBD22", "sft-shallow-parallel": "#393B79", "sft-deep": "#AD494A",
}
PLOTLY_TEMPLATE = "plotly_white"


def style(fig, height: int = 380):
    """Apply the dashboard's common layout to a plotly figure and return it."""
    fig.update_layout(template=PLOTLY_TEMPLATE, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig
