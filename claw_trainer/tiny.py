"""Tiny random chat models built offline in well under a second: for tests of trainer mechanics.

``build_tiny_model(path)`` trains a byte-level BPE tokenizer on a small built-in corpus (plus whatever text
is given), attaches TRL's bundled Qwen3 chat template (which TRL recognises for tool calling) and saves a
random ``Qwen2ForCausalLM`` (hidden 64, 2 layers) next to it. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Added as ordinary (non-special) tokens, as in Qwen's tokenizers, so decoding keeps them for tool parsing.
MARKUP = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>"]
_CORPUS = [
    "You can call these tools. Call a tool with the name and arguments. When you know the answer, reply with it.",
    '{"name": "python", "arguments": {"code": "print(6 * 7)"}}', '{"name": "final_answer", "arguments": '
    '{"answer": "42"}}', "How many apples are left? The answer is \\boxed{12}.", "user assistant system tool",
    "0 1 2 3 4 5 6 7 8 9 + - * / = ( ) [ ] { } , . : ; ' \" ? ! \\n",
]


def build_tiny_model(path: str | Path, extra_text: list[str] | None = None, hidden: int = 64, layers: int = 2,
                     seed: int = 0, vocab_size: int = 600, context: int = 4096) -> Path:
    """Create (or reuse) a tiny model + tokenizer at ``path``; returns the path. ``context``: its
    ``max_position_embeddings`` (RoPE, so any length works; serving refuses prompts beyond it)."""
    path = Path(path)
    if (path / "config.json").is_file() and (path / "tokenizer.json").is_file():
        return path
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
    from trl.chat_template_utils import qwen3_chat_template

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS + list(extra_text or []), trainer)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    hf_tok.add_tokens(MARKUP, special_tokens=False)
    hf_tok.chat_template = qwen3_chat_template
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(hf_tok), hidden_size=hidden, intermediate_size=hidden * 2,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=context, tie_word_embeddings=True,
                      eos_token_id=hf_tok.eos_token_id, pad_token_id=hf_tok.pad_token_id)
    model = Qwen2ForCausalLM(cfg)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    hf_tok.save_pretrained(path)
    return path
